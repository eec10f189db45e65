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

    public init(rows: Int, columns: Int, type: TensorType, data: UnsafeRawPointer) {
        precondition(columns % type.blockSize == 0, "columns \(columns) not a multiple of \(type) block size \(type.blockSize)")
        self.rows = rows
        self.columns = columns
        self.type = type
        self.data = data
        self.rowBytes = columns / type.blockSize * type.blockBytes
    }

    @inlinable
    public func row(_ r: Int) -> UnsafeRawPointer { data + r * rowBytes }

    /// Total bytes of weights.
    public var byteCount: Int { rows * rowBytes }

    /// Dequantizes row `r` into `out` (`columns` floats).
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        Dequantize.row(type, from: row(r), count: columns, into: out)
    }
}
