/// The elements of a GGUF metadata array, stored compactly.
///
/// A tokenizer's arrays hold hundreds of thousands of strings, floats and ints (262,144 each for Gemma 3):
/// as `[GGUFValue]` they would take 24 bytes per element; here strings, `float32` and `int32` arrays keep
/// their plain Swift arrays (16, 4 and 4 bytes per element) and every other element type keeps
/// `GGUFValue`s. Reading an element builds its ``GGUFValue``; ``GGUFFile/stringArray(_:)`` and friends
/// return the stored arrays without conversion.
public struct GGUFArray: RandomAccessCollection, ExpressibleByArrayLiteral, Sendable, Equatable {
    @usableFromInline enum Storage: Sendable {
        case values([GGUFValue])
        case strings([String])
        case float32s([Float])
        case int32s([Int32])
    }

    @usableFromInline let storage: Storage

    /// Elements as values; an array whose values all share the type of a compact storage is stored compactly.
    public init(_ values: [GGUFValue]) {
        /// The payloads when every value yields one, else nil.
        func all<T>(_ payload: (GGUFValue) -> T?) -> [T]? {
            var out: [T] = []
            out.reserveCapacity(values.count)
            for v in values { guard let x = payload(v) else { return nil }; out.append(x) }
            return out
        }
        switch values.first {
        case .string?:
            if let v = all({ if case let .string(x) = $0 { return x }; return nil }) { storage = .strings(v); return }
        case .float32?:
            if let v = all({ if case let .float32(x) = $0 { return x }; return nil }) { storage = .float32s(v); return }
        case .int32?:
            if let v = all({ if case let .int32(x) = $0 { return x }; return nil }) { storage = .int32s(v); return }
        default: break
        }
        storage = .values(values)
    }

    public init(arrayLiteral elements: GGUFValue...) { self.init(elements) }
    public init(strings: [String]) { storage = .strings(strings) }
    public init(floats: [Float]) { storage = .float32s(floats) }
    public init(int32s: [Int32]) { storage = .int32s(int32s) }

    public var startIndex: Int { 0 }
    public var endIndex: Int {
        switch storage {
        case let .values(v): return v.count
        case let .strings(v): return v.count
        case let .float32s(v): return v.count
        case let .int32s(v): return v.count
        }
    }

    public subscript(index: Int) -> GGUFValue {
        switch storage {
        case let .values(v): return v[index]
        case let .strings(v): return .string(v[index])
        case let .float32s(v): return .float32(v[index])
        case let .int32s(v): return .int32(v[index])
        }
    }

    /// The elements when they are all strings, without conversion.
    public var strings: [String]? {
        switch storage {
        case let .strings(v): return v
        case let .values(v) where v.isEmpty: return []
        default: return nil
        }
    }

    /// The elements when they are all `float32`, without conversion.
    public var floats: [Float]? { if case let .float32s(v) = storage { return v } else { return nil } }

    /// The elements when they are all `int32`, without conversion.
    public var int32s: [Int32]? { if case let .int32s(v) = storage { return v } else { return nil } }

    public static func == (a: GGUFArray, b: GGUFArray) -> Bool { a.elementsEqual(b) }
}

extension GGUFValue {
    /// An array value from its elements (stored compactly where they allow it).
    public static func array(_ type: GGUFValueType, _ values: [GGUFValue]) -> GGUFValue { .array(type, GGUFArray(values)) }
}
