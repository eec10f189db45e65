/// Why a session snapshot could not be saved or restored. Each message names what was found and expected.
public enum SessionError: Error, CustomStringConvertible, Equatable {
    case cannotRead(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    case truncated(path: String, size: Int, needed: Int)
    case badMagic(path: String)
    case unsupportedVersion(path: String, found: UInt32, expected: UInt32)
    case headerCorrupted(path: String)
    case otherModel(path: String, found: String, expected: String)
    case contextSizeMismatch(path: String, found: Int, expected: Int)
    case shapeMismatch(path: String, found: String, expected: String)
    case tooManyTokens(path: String, found: Int, contextSize: Int)
    case payloadCorrupted(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotRead(p, r): return "cannot read session file '\(p)': \(r)"
        case let .writeFailed(p, r): return "cannot write session file '\(p)': \(r)"
        case let .truncated(p, size, needed): return "session file '\(p)' is truncated: \(size) bytes, expected \(needed)"
        case let .badMagic(p): return "'\(p)' is not a redflag session file (magic bytes differ from \"RFLGSESS\")"
        case let .unsupportedVersion(p, f, e): return "session file '\(p)' has format version \(f), expected \(e)"
        case let .headerCorrupted(p): return "session file '\(p)' has a corrupted header (checksum mismatch)"
        case let .otherModel(p, f, e): return "session file '\(p)' was made with another model (\(f)), expected \(e)"
        case let .contextSizeMismatch(p, f, e): return "session file '\(p)' was made with context size \(f), expected \(e) (use --ctx \(f))"
        case let .shapeMismatch(p, f, e): return "session file '\(p)' has KV shape \(f), expected \(e)"
        case let .tooManyTokens(p, f, c): return "session file '\(p)' holds \(f) tokens, more than its context size \(c)"
        case let .payloadCorrupted(p, r): return "session file '\(p)' payload is corrupted: \(r)"
        }
    }
}
