/// A 2-D weight `[rows × columns]` stored row-major in one of the ggml block layouts.
/// `rows` are output features, `columns` input features (ggml's `ne[0]`). A view: the storage is owned
/// elsewhere (the GGUF mapping, or a buffer of converted weights) and must outlive it.
public struct WeightMatrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    public let type: TensorType
    public let data: UnsafeRawPointer
    /// Bytes per row (`columns / blockSize · blockBytes`).
    public let rowBytes: Int
    /// A low-rank correction that belongs to this matrix but is not in `data` (an unmerged LoRA adapter): every
    /// product with the matrix adds it (`InferenceContext.matvec` / `matmul`).
    public let lowRank: LowRankDelta?

    public init(rows: Int, columns: Int, type: TensorType, data: UnsafeRawPointer, lowRank: LowRankDelta? = nil) {
        precondition(columns % type.blockSize == 0, "columns \(columns) not a multiple of \(type) block size \(type.blockSize)")
        if let d = lowRank {
            precondition(d.inputs == columns && d.outputs == rows, "low-rank delta \(d.outputs)×\(d.inputs) on a \(rows)×\(columns) matrix")
        }
        self.rows = rows
        self.columns = columns
        self.type = type
        self.data = data
        self.rowBytes = columns / type.blockSize * type.blockBytes
        self.lowRank = lowRank
    }

    /// The same weights with `delta` attached.
    public func adding(_ delta: LowRankDelta) -> WeightMatrix {
        WeightMatrix(rows: rows, columns: columns, type: type, data: data, lowRank: delta)
    }

    @inlinable
    public func row(_ r: Int) -> UnsafeRawPointer { data + r * rowBytes }

    /// Total bytes of weights (the stored matrix only).
    public var byteCount: Int { rows * rowBytes }

    /// Bytes one product reads: the stored matrix plus the low-rank factors, if any.
    public var bytesRead: Int { byteCount + (lowRank?.byteCount ?? 0) }

    /// Dequantizes row `r` into `out` (`columns` floats).
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        Dequantize.row(type, from: row(r), count: columns, into: out)
    }
}
