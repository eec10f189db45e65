/// Keys and values of every layer for every position, f32.
/// Layout per layer: `(contextSize, kvDim)` for keys and the same for values.
public final class KVCache: @unchecked Sendable {
    public let layerCount: Int
    public let contextSize: Int
    public let kvDim: Int
    @usableFromInline let keys: UnsafeMutablePointer<Float>     // (layer, contextSize, kvDim)
    @usableFromInline let values: UnsafeMutablePointer<Float>   // (layer, contextSize, kvDim)

    /// Bytes a cache of this shape needs.
    public static func bytesNeeded(layerCount: Int, contextSize: Int, kvDim: Int) -> Int {
        2 * layerCount * contextSize * kvDim * MemoryLayout<Float>.size
    }

    public init(layerCount: Int, contextSize: Int, kvDim: Int) {
        self.layerCount = layerCount
        self.contextSize = contextSize
        self.kvDim = kvDim
        let n = layerCount * contextSize * kvDim
        keys = .allocate(capacity: n)
        values = .allocate(capacity: n)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    @inlinable
    public func keys(layer: Int) -> UnsafeMutablePointer<Float> { keys + layer * contextSize * kvDim }
    @inlinable
    public func values(layer: Int) -> UnsafeMutablePointer<Float> { values + layer * contextSize * kvDim }

    /// Raw bytes of positions `0..<count` of one layer (keys then values), for session snapshots.
    public func layerBytes(layer: Int, count: Int) -> (keys: UnsafeMutableRawBufferPointer, values: UnsafeMutableRawBufferPointer) {
        let n = count * kvDim * MemoryLayout<Float>.size
        return (UnsafeMutableRawBufferPointer(start: keys(layer: layer), count: n),
                UnsafeMutableRawBufferPointer(start: values(layer: layer), count: n))
    }
}
