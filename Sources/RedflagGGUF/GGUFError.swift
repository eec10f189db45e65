import RedflagKernels

/// Everything that can be wrong with a GGUF file. Each message names what was found and what was expected.
public enum GGUFError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case badMagic(found: UInt32)
    case unsupportedVersion(found: UInt32)
    /// A read of `needed` bytes at `offset` would pass the end of the file (`fileSize` bytes) while reading `what`.
    case truncated(what: String, offset: Int, needed: Int, fileSize: Int)
    case unknownValueType(key: String, found: UInt32)
    case invalidString(what: String, offset: Int)
    case countTooLarge(what: String, found: UInt64, limit: UInt64)
    case duplicateKey(String)
    case duplicateTensor(String)
    case unknownTensorType(tensor: String, found: UInt32)
    case invalidTensorShape(tensor: String, dims: [UInt64], reason: String)
    case misalignedTensor(tensor: String, offset: UInt64, alignment: Int)
    case tensorOutOfBounds(tensor: String, start: UInt64, bytes: UInt64, fileSize: Int)
    case overlappingTensors(String, String)
    case badAlignment(found: Int)
    case missingKey(String)
    case wrongValueType(key: String, found: String, expected: String)
    case missingTensor(String)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "cannot open GGUF file '\(path)': \(reason)"
        case let .badMagic(found):
            return "not a GGUF file: magic is 0x\(String(found, radix: 16)), expected 0x46554747 (\"GGUF\")"
        case let .unsupportedVersion(found): return "unsupported GGUF version \(found), expected 2 or 3"
        case let .truncated(what, offset, needed, fileSize):
            return "GGUF file truncated: reading \(what) needs \(needed) bytes at offset \(offset), but the file has \(fileSize) bytes"
        case let .unknownValueType(key, found):
            return "metadata key '\(key)' has unknown value type \(found), expected 0...12"
        case let .invalidString(what, offset): return "\(what) at offset \(offset) is not valid UTF-8"
        case let .countTooLarge(what, found, limit): return "\(what) is \(found), more than the limit \(limit)"
        case let .duplicateKey(key): return "metadata key '\(key)' appears twice"
        case let .duplicateTensor(name): return "tensor '\(name)' appears twice"
        case let .unknownTensorType(tensor, found):
            let known = TensorType.allCases.map { "\($0.rawValue) (\($0))" }.joined(separator: ", ")
            return "tensor '\(tensor)' has unknown or unsupported type \(found), expected one of \(known)"
        case let .invalidTensorShape(tensor, dims, reason): return "tensor '\(tensor)' has invalid shape \(dims): \(reason)"
        case let .misalignedTensor(tensor, offset, alignment):
            return "tensor '\(tensor)' data offset \(offset) is not a multiple of the alignment \(alignment)"
        case let .tensorOutOfBounds(tensor, start, bytes, fileSize):
            return "tensor '\(tensor)' needs \(bytes) bytes at file offset \(start), but the file has \(fileSize) bytes"
        case let .overlappingTensors(a, b): return "tensors '\(a)' and '\(b)' overlap in the file"
        case let .badAlignment(found): return "general.alignment is \(found), expected a power of two between 1 and 65536"
        case let .missingKey(key): return "metadata key '\(key)' is missing"
        case let .wrongValueType(key, found, expected): return "metadata key '\(key)' is \(found), expected \(expected)"
        case let .missingTensor(name): return "tensor '\(name)' is missing"
        case let .writeFailed(path, reason): return "cannot write GGUF file '\(path)': \(reason)"
        }
    }
}
