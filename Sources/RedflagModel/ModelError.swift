import RedflagKernels

/// Errors loading or running a model. Messages say what was found and what was expected.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case unsupportedArchitecture(found: String)
    case missingTensor(String)
    case shapeMismatch(tensor: String, found: [Int], expected: [Int])
    case unsupportedTensorType(tensor: String, type: TensorType)
    case invalidConfig(String)
    case contextTooLarge(requested: Int, maximum: Int)
    case contextFull(position: Int, adding: Int, contextSize: Int)
    case invalidToken(id: Int32, vocabularySize: Int)
    case memoryBudgetExceeded(needed: Int, budget: Int, what: String)

    public var description: String {
        switch self {
        case let .unsupportedArchitecture(found): return "unsupported model architecture '\(found)', expected 'gemma3'"
        case let .missingTensor(name): return "model tensor '\(name)' is missing"
        case let .shapeMismatch(tensor, found, expected): return "tensor '\(tensor)' has shape \(found), expected \(expected)"
        case let .unsupportedTensorType(tensor, type):
            return "tensor '\(tensor)' has type \(type), expected one of F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q6_K"
        case let .invalidConfig(msg): return "invalid model configuration: \(msg)"
        case let .contextTooLarge(requested, maximum):
            return "context size \(requested) is larger than the model's maximum \(maximum)"
        case let .contextFull(position, adding, contextSize):
            return "context full: \(position) tokens in the cache plus \(adding) new ones exceed the context size \(contextSize)"
        case let .invalidToken(id, n): return "token id \(id) is out of range, expected 0..<\(n)"
        case let .memoryBudgetExceeded(needed, budget, what):
            return "\(what) needs \(needed / (1 << 20)) MiB, more than the memory budget of \(budget / (1 << 20)) MiB"
        }
    }
}
