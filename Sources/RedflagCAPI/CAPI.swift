import Foundation
import RedflagFlag
import RedflagGGUF
import RedflagGeneration
import RedflagModel
import RedflagTokenizer

// The C ABI declared in include/redflag.h. Handles are retained Swift objects passed as opaque pointers.
// Struct layouts here mirror the header exactly (checked by the C example compiled in the tests).

// MARK: - Mirrors of the header's structs

struct RFModelOptions { var structSize: UInt32; var threads: Int32; var loraPath: UnsafePointer<CChar>?; var exact: Int32 }
struct RFContextOptions { var structSize: UInt32; var threads: Int32; var contextSize: Int32; var guardPolicy: Int32; var threshold: Float }
struct RFGenerateOptions {
    var structSize: UInt32; var maxTokens: Int32; var temperature: Float; var topK: Int32; var topP: Float; var minP: Float
    var repeatPenalty: Float; var seed: UInt64; var prefill: UnsafePointer<CChar>?; var chat: Int32; var returnPartial: Int32
}
struct RFEvent {
    var kind: Int32; var tokenID: Int32; var text: UnsafePointer<CChar>?; var position: Int32; var probability: Float
    var action: Int32; var tokensGenerated: Int32; var tokensPerSecond: Double; var flags: Int32; var finishReason: Int32
}
public typealias RFCallback = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?) -> Int32

let rfOK: Int32 = 0, rfInvalid: Int32 = 1, rfIO: Int32 = 2, rfModel: Int32 = 3, rfContext: Int32 = 4, rfCancelled: Int32 = 5, rfSession: Int32 = 6

// MARK: - Handles

final class ModelHandle {
    let model: Gemma3Model
    let tokenizer: Tokenizer
    init(model: Gemma3Model, tokenizer: Tokenizer) { self.model = model; self.tokenizer = tokenizer }
}

final class ContextHandle {
    let owner: ModelHandle
    let generator: Generator
    let flag: FlagConfiguration
    let cancel = CancellationToken()
    init(owner: ModelHandle, generator: Generator, flag: FlagConfiguration) { self.owner = owner; self.generator = generator; self.flag = flag }
}

// MARK: - Errors (thread-local last error)

private let errorKey: pthread_key_t = {
    var k = pthread_key_t()
    pthread_key_create(&k) { free($0) }
    return k
}()

@discardableResult
func fail(_ status: Int32, _ message: String) -> Int32 {
    if let old = pthread_getspecific(errorKey) { free(old) }
    pthread_setspecific(errorKey, strdup(message))
    return status
}

func status(for error: Error) -> Int32 {
    switch error {
    case is GGUFError: return fail(rfModel, "\(error)")
    case let e as ModelError:
        if case .contextFull = e { return fail(rfContext, "\(e)") }
        return fail(rfModel, "\(e)")
    case let e as GenerationError:
        if case .promptTooLong = e { return fail(rfContext, "\(e)") }
        if case .cancelled = e { return fail(rfCancelled, "\(e)") }
        return fail(rfInvalid, "\(e)")
    case is SessionError: return fail(rfSession, "\(error)")
    default: return fail(rfModel, "\(error)")
    }
}

@_cdecl("rf_last_error")
public func rf_last_error() -> UnsafePointer<CChar> {
    if let p = pthread_getspecific(errorKey) { return UnsafePointer(p.assumingMemoryBound(to: CChar.self)) }
    return UnsafePointer(emptyString)
}
private let emptyString: UnsafeMutablePointer<CChar> = strdup("")!

@_cdecl("rf_api_version")
public func rf_api_version() -> Int32 { 1 }

// MARK: - Options

@_cdecl("rf_model_options_default")
public func rf_model_options_default(_ o: UnsafeMutableRawPointer?) {
    o?.storeBytes(of: RFModelOptions(structSize: UInt32(MemoryLayout<RFModelOptions>.size), threads: 0, loraPath: nil, exact: 0),
                  as: RFModelOptions.self)
}

@_cdecl("rf_context_options_default")
public func rf_context_options_default(_ o: UnsafeMutableRawPointer?) {
    o?.storeBytes(of: RFContextOptions(structSize: UInt32(MemoryLayout<RFContextOptions>.size), threads: 0, contextSize: 2048,
                                       guardPolicy: 1, threshold: 0), as: RFContextOptions.self)
}

@_cdecl("rf_generate_options_default")
public func rf_generate_options_default(_ o: UnsafeMutableRawPointer?) {
    o?.storeBytes(of: RFGenerateOptions(structSize: UInt32(MemoryLayout<RFGenerateOptions>.size), maxTokens: 128, temperature: 0,
                                        topK: 40, topP: 1, minP: 0, repeatPenalty: 1, seed: 0x5EED, prefill: nil, chat: 1, returnPartial: 0),
                  as: RFGenerateOptions.self)
}

/// Reads an options struct that may be older (smaller) than ours: missing trailing fields keep defaults.
func readOptions<T>(_ p: UnsafeRawPointer?, defaults: T) -> T? {
    guard let p else { return defaults }
    let size = Int(p.load(as: UInt32.self))
    guard size >= 4 else { return nil }
    var out = defaults
    withUnsafeMutableBytes(of: &out) { dst in dst.copyMemory(from: UnsafeRawBufferPointer(start: p, count: min(size, dst.count))) }
    return out
}

// MARK: - Model

@_cdecl("rf_model_open")
public func rf_model_open(_ path: UnsafePointer<CChar>?, _ options: UnsafeRawPointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let path, let out else { return fail(rfInvalid, "rf_model_open: path and out_model must not be NULL") }
    var defaults = RFModelOptions(structSize: 0, threads: 0, loraPath: nil, exact: 0)
    rf_model_options_default(&defaults)
    guard let o = readOptions(options, defaults: defaults) else { return fail(rfInvalid, "rf_model_open: options.struct_size is 0; call rf_model_options_default first") }
    let file = String(cString: path)
    guard FileManager.default.fileExists(atPath: file) else { return fail(rfIO, "model file not found: \(file)") }
    do {
        let g = try GGUFFile(path: file)
        let tok = try Tokenizer(gguf: g)
        let adapter = try o.loraPath.map { try LoRAAdapter(path: String(cString: $0)) }
        let threads = o.threads > 0 ? Int(o.threads) : ProcessInfo.processInfo.activeProcessorCount
        let m = try Gemma3Model(gguf: g, format: o.exact != 0 ? .exact : .quantized, threads: threads, adapter: adapter)
        out.pointee = OpaquePointer(Unmanaged.passRetained(ModelHandle(model: m, tokenizer: tok)).toOpaque())
        return rfOK
    } catch {
        return status(for: error)
    }
}

@_cdecl("rf_model_free")
public func rf_model_free(_ m: OpaquePointer?) {
    guard let m else { return }
    Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer(m)).release()
}

func modelHandle(_ m: OpaquePointer?) -> ModelHandle? { m.map { Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() } }
func contextHandle(_ c: OpaquePointer?) -> ContextHandle? { c.map { Unmanaged<ContextHandle>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() } }

// MARK: - Context

@_cdecl("rf_context_create")
public func rf_context_create(_ m: OpaquePointer?, _ options: UnsafeRawPointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let h = modelHandle(m), let out else { return fail(rfInvalid, "rf_context_create: model and out_context must not be NULL") }
    var defaults = RFContextOptions(structSize: 0, threads: 0, contextSize: 0, guardPolicy: 0, threshold: 0)
    rf_context_options_default(&defaults)
    guard let o = readOptions(options, defaults: defaults) else { return fail(rfInvalid, "rf_context_create: options.struct_size is 0") }
    let policies: [Int32: FlagPolicy] = [0: .off, 1: .halt, 2: .reflect, 3: .monitor]
    guard let policy = policies[o.guardPolicy] else { return fail(rfInvalid, "guard_policy \(o.guardPolicy): expected 0 (off), 1 (halt), 2 (reflect) or 3 (monitor)") }
    guard o.threshold <= 1, o.threshold.isFinite else { return fail(rfInvalid, "threshold \(o.threshold): expected (0, 1], or ≤ 0 for the model's default") }
    do {
        let threads = o.threads > 0 ? Int(o.threads) : ProcessInfo.processInfo.activeProcessorCount
        let ctx = try InferenceContext(model: h.model, contextSize: o.contextSize > 0 ? Int(o.contextSize) : 2048, threads: threads)
        guard var flag = FlagConfiguration.fromModel(h.model.gguf, lookup: { h.tokenizer.id(of: $0) }, policy: policy) else {
            return fail(rfModel, "the model has no red-flag token (no redflag.token_id and no <unused0>)")
        }
        if let id = h.model.adapter?.flagTokenID { flag.tokenID = id }
        if let t = h.model.adapter?.threshold { flag.threshold = t }
        if o.threshold > 0 { flag.threshold = o.threshold }
        let handle = ContextHandle(owner: h, generator: Generator(model: h.model, tokenizer: h.tokenizer, context: ctx), flag: flag)
        out.pointee = OpaquePointer(Unmanaged.passRetained(handle).toOpaque())
        return rfOK
    } catch {
        return status(for: error)
    }
}

@_cdecl("rf_context_free")
public func rf_context_free(_ c: OpaquePointer?) {
    guard let c else { return }
    Unmanaged<ContextHandle>.fromOpaque(UnsafeRawPointer(c)).release()
}

@_cdecl("rf_cancel")
public func rf_cancel(_ c: OpaquePointer?) { contextHandle(c)?.cancel.cancel() }

// MARK: - Tokens

@_cdecl("rf_tokenize")
public func rf_tokenize(_ m: OpaquePointer?, _ text: UnsafePointer<CChar>?, _ addBOS: Int32, _ parseSpecial: Int32,
                        _ ids: UnsafeMutablePointer<Int32>?, _ capacity: Int32, _ count: UnsafeMutablePointer<Int32>?) -> Int32 {
    guard let h = modelHandle(m), let text, let count else { return fail(rfInvalid, "rf_tokenize: model, text and out_count must not be NULL") }
    let out = h.tokenizer.encode(String(cString: text), addBOS: addBOS != 0, parseSpecial: parseSpecial != 0)
    count.pointee = Int32(out.count)
    if let ids { for (i, t) in out.prefix(Int(max(0, capacity))).enumerated() { ids[i] = t } }
    return out.count <= Int(capacity) ? rfOK : fail(rfInvalid, "rf_tokenize: \(out.count) tokens do not fit in a buffer of \(capacity)")
}

@_cdecl("rf_detokenize")
public func rf_detokenize(_ m: OpaquePointer?, _ ids: UnsafePointer<Int32>?, _ n: Int32, _ buffer: UnsafeMutablePointer<CChar>?,
                          _ capacity: Int, _ length: UnsafeMutablePointer<Int>?) -> Int32 {
    guard let h = modelHandle(m), n >= 0, ids != nil || n == 0 else {
        return fail(rfInvalid, "rf_detokenize: model must not be NULL, count ≥ 0, ids non-NULL when count > 0")
    }
    do {
        let text = try h.tokenizer.decode(n == 0 ? [] : Array(UnsafeBufferPointer(start: ids, count: Int(n))))
        let bytes = Array(text.utf8)
        length?.pointee = bytes.count
        guard let buffer, capacity > bytes.count else { return fail(rfInvalid, "rf_detokenize: \(bytes.count + 1) bytes needed, buffer has \(capacity)") }
        for (i, b) in bytes.enumerated() { buffer[i] = CChar(bitPattern: b) }
        buffer[bytes.count] = 0
        return rfOK
    } catch {
        return fail(rfInvalid, "\(error)")
    }
}

// MARK: - Generation

@_cdecl("rf_generate")
public func rf_generate(_ c: OpaquePointer?, _ prompt: UnsafePointer<CChar>?, _ options: UnsafeRawPointer?,
                        _ callback: RFCallback?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    guard let h = contextHandle(c), let prompt else { return fail(rfInvalid, "rf_generate: context and prompt must not be NULL") }
    var defaults = RFGenerateOptions(structSize: 0, maxTokens: 0, temperature: 0, topK: 0, topP: 0, minP: 0, repeatPenalty: 0, seed: 0,
                                     prefill: nil, chat: 0, returnPartial: 0)
    rf_generate_options_default(&defaults)
    guard let o = readOptions(options, defaults: defaults) else { return fail(rfInvalid, "rf_generate: options.struct_size is 0") }
    let tok = h.owner.tokenizer
    let text = String(cString: prompt)
    let ids: [Int32]
    if o.chat != 0 {
        do { ids = try ChatTemplate(tokenizer: tok).singleTurn(text) } catch { return status(for: error) }
    } else {
        ids = tok.encode(text)
    }
    var opts = GenerationOptions(maxTokens: Int(o.maxTokens),
                                 sampler: SamplerOptions(temperature: o.temperature, topK: Int(o.topK), topP: o.topP, minP: o.minP,
                                                         repetitionPenalty: o.repeatPenalty, seed: o.seed),
                                 flag: h.flag, prefill: o.prefill.map { String(cString: $0) })
    opts.returnPartialOnHalt = o.returnPartial != 0
    h.cancel.reset()
    var stoppedByCallback = false
    func emit(_ e: RFEvent, _ text: String?) {
        guard let cb = callback else { return }
        var ev = e
        let r: Int32 = (text ?? "").withCString { p in
            ev.text = p
            return withUnsafePointer(to: &ev) { cb(UnsafeRawPointer($0), user) }
        }
        if r != 0 { stoppedByCallback = true; h.cancel.cancel() }
    }
    do {
        let result = try h.generator.generate(prompt: ids, options: opts, cancel: h.cancel) { event in
            switch event {
            case let .token(id, piece, _):
                emit(RFEvent(kind: 0, tokenID: id, text: nil, position: 0, probability: 0, action: 0, tokensGenerated: 0,
                             tokensPerSecond: 0, flags: 0, finishReason: 0), piece)
            case let .flag(f):
                let action: Int32 = f.action == .halted ? 0 : f.action == .reflected ? 1 : 2
                emit(RFEvent(kind: 1, tokenID: -1, text: nil, position: Int32(f.responseIndex), probability: f.probability,
                             action: action, tokensGenerated: 0, tokensPerSecond: 0, flags: 0, finishReason: 0), f.textSoFar)
            case .done:
                break   // sent below with the final text
            }
        }
        let s = result.stats
        let reason: Int32 = [FinishReason.stop: 0, .length: 1, .flagged: 2, .cancelled: 3][s.finishReason]!
        emit(RFEvent(kind: 2, tokenID: -1, text: nil, position: 0, probability: 0, action: 0, tokensGenerated: Int32(s.generatedTokens),
                     tokensPerSecond: s.tokensPerSecond, flags: Int32(s.flags), finishReason: reason), result.text)
        if s.finishReason == .cancelled || stoppedByCallback { return fail(rfCancelled, "generation cancelled") }
        return rfOK
    } catch {
        return status(for: error)
    }
}

// MARK: - Sessions

@_cdecl("rf_session_save")
public func rf_session_save(_ c: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    guard let h = contextHandle(c), let path else { return fail(rfInvalid, "rf_session_save: context and path must not be NULL") }
    do { try SessionFile.save(h.generator.context, to: String(cString: path)); return rfOK } catch { return status(for: error) }
}

@_cdecl("rf_session_load")
public func rf_session_load(_ c: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    guard let h = contextHandle(c), let path else { return fail(rfInvalid, "rf_session_load: context and path must not be NULL") }
    do { try SessionFile.load(String(cString: path), into: h.generator.context); return rfOK } catch { return status(for: error) }
}
