import RedflagKernels

/// One entry of a GGUF tensor table, with its location already checked against the file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Dimensions, innermost first (ggml order): `dims[0]` is the row length.
    public let dims: [Int]
    public let type: TensorType
    /// Absolute byte offset of the tensor data in the file.
    public let fileOffset: Int
    /// Bytes of tensor data.
    public let byteCount: Int

    public var elementCount: Int { dims.reduce(1, *) }
    /// Length of one row (values).
    public var columns: Int { dims.first ?? 1 }
    /// Number of rows (product of the outer dimensions).
    public var rows: Int { dims.dropFirst().reduce(1, *) }
}
