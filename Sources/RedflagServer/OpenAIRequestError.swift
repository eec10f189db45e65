/// Why a request body is not an acceptable OpenAI request; every case names the field (`param`).
public enum OpenAIRequestError: Error, Equatable, CustomStringConvertible {
    /// The body is not valid JSON (or is nested deeper than allowed).
    case invalidJSON(String)
    /// The body is valid JSON but not an object.
    case notAnObject
    /// A field this server does not know (OpenAI fields it does not implement included).
    case unknownField(String)
    case missingField(String)
    /// A field of the wrong JSON type.
    case wrongType(field: String, expected: String)
    /// A value outside the accepted range or set.
    case invalidValue(field: String, value: String, expected: String)

    /// The field the error is about (OpenAI's `param`).
    public var param: String? {
        switch self {
        case .invalidJSON, .notAnObject: return nil
        case let .unknownField(f), let .missingField(f): return f
        case let .wrongType(f, _), let .invalidValue(f, _, _): return f
        }
    }

    public var description: String {
        switch self {
        case let .invalidJSON(why): return "the request body is not valid JSON: \(why)"
        case .notAnObject: return "the request body must be a JSON object"
        case let .unknownField(f): return "unknown field '\(f)'"
        case let .missingField(f): return "missing required field '\(f)'"
        case let .wrongType(f, expected): return "'\(f)' must be \(expected)"
        case let .invalidValue(f, value, expected): return "invalid '\(f)' \(value): expected \(expected)"
        }
    }
}
