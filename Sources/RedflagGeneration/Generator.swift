import Foundation
import Dispatch
import RedflagFlag
import RedflagKernels
import RedflagModel
import RedflagTokenizer

/// The generation loop: prompt → (prefill) → sample/evaluate until a stop, with the red flag checked at the
/// first response position, at every prefilled position and after every generated token.
///
/// Each step: the fused LM head (`FusedLMHead.project`) yields logits with `<rf>` masked out and p(<rf>)
/// for the current position; the policy acts on the flag; the sampler picks the next token; the model
/// evaluates it. After warm-up a step allocates nothing on the heap (the emitted text aside).
public final class Generator: @unchecked Sendable {
    public let model: Gemma3Model
    public let tokenizer: Tokenizer
    public let context: InferenceContext
    public let head: FusedLMHead
    let logits: UnsafeMutablePointer<Float>   // (vocab)
    /// `<end_of_turn>` if the vocabulary has it (a stop token by default).
    public let endOfTurn: Int32?
    /// Serializes generations: a stream the consumer abandoned finishes its current token before the next
    /// generation may touch the context.
    private let busy = NSLock()

    public init(model: Gemma3Model, tokenizer: Tokenizer, context: InferenceContext) {
        self.model = model
        self.tokenizer = tokenizer
        self.context = context
        head = FusedLMHead(weights: model.weights.output, flagToken: nil, refinement: model.weights.outputRefinement)
        logits = .allocate(capacity: model.config.vocabularySize)
        endOfTurn = tokenizer.id(of: "<end_of_turn>")
    }

    deinit { logits.deallocate() }

    /// Logits of the last evaluated position (valid after `generate` or `project`).
    public var lastLogits: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: logits, count: model.config.vocabularySize) }

    /// Runs the LM head on the context's last hidden state.
    @discardableResult
    public func project(row: Int = 0) -> FlagReading {
        head.project(context.hidden + row * model.config.hiddenSize, into: logits,
                     activations: context.activations, threads: context.threads)
    }

    /// Evaluates `prompt`, reusing the longest prefix already in the context's KV cache; returns how many
    /// tokens were evaluated.
    @discardableResult
    public func prime(_ prompt: [Int32]) throws -> Int {
        guard !prompt.isEmpty else { throw GenerationError.emptyPrompt }
        guard prompt.count < context.contextSize else {
            throw GenerationError.promptTooLong(tokens: prompt.count, contextSize: context.contextSize)
        }
        var common = 0
        let cached = context.tokens
        while common < min(cached.count, prompt.count) && cached[common] == prompt[common] { common += 1 }
        let reuse = min(common, prompt.count - 1)      // re-run at least one token to get its hidden state
        context.truncate(to: reuse)
        // The last prompt token always runs on its own (the one-token path decoding uses), whether the tokens
        // before it were just computed as a batch or came from the cache: the batched path (f32 activations)
        // and the one-token path (int8 activations) give slightly different logits, so without this a repeated
        // greedy request could answer differently from the first one at a near-tie.
        let last = prompt.count - 1
        if reuse < last { try context.evaluate(Array(prompt[reuse..<last])) }
        try context.evaluate([prompt[last]])
        return prompt.count - reuse
    }

    /// Generates a response to `prompt` (token ids, BOS included), calling `onEvent` for every event.
    public func generate(prompt: [Int32], options: GenerationOptions, cancel: CancellationToken? = nil,
                         onEvent: (GenerationEvent) -> Void = { _ in }) throws -> GenerationResult {
        busy.lock()
        defer { busy.unlock() }
        try options.sampler.validate()
        guard options.maxTokens >= 0 else {
            throw GenerationError.invalidOption(name: "max tokens", value: "\(options.maxTokens)", expected: "an integer ≥ 0")
        }
        let flag = options.flag
        if let f = flag {
            guard f.tokenID >= 0, Int(f.tokenID) < model.config.vocabularySize else {
                throw GenerationError.unknownFlagToken("\(f.tokenID)")
            }
            guard f.threshold.isFinite, f.threshold > 0, f.threshold <= 1 else {
                throw GenerationError.invalidOption(name: "flag threshold", value: "\(f.threshold)", expected: "a number in (0, 1]")
            }
        }
        head.flagToken = flag?.tokenID
        let prefill = options.prefill.map { tokenizer.encode($0, addBOS: false) } ?? []
        guard prompt.count + prefill.count < context.contextSize else {
            throw GenerationError.promptTooLong(tokens: prompt.count + prefill.count, contextSize: context.contextSize)
        }
        var stops = options.stopTokens
        stops.insert(tokenizer.eos)
        if let e = endOfTurn { stops.insert(e) }
        let sampler = Sampler(options: options.sampler, vocabularySize: model.config.vocabularySize)

        var stats = GenerationStats()
        stats.promptTokens = prompt.count
        let t0 = DispatchTime.now().uptimeNanoseconds
        stats.promptTokensEvaluated = try prime(prompt)
        var reading = project()
        let t1 = DispatchTime.now().uptimeNanoseconds
        stats.promptSeconds = Double(t1 - t0) / 1e9

        var decoder = StreamingDecoder(tokenizer: tokenizer)
        var text = ""
        var tokens: [Int32] = []
        tokens.reserveCapacity(options.maxTokens + prefill.count)
        var flags: [FlagEvent] = []
        var trace: [Float] = []
        trace.reserveCapacity(options.maxTokens + prefill.count + 1)
        var reflections = 0

        /// Applies the policy to the current reading; returns true when generation must halt.
        func check(_ phase: FlagPhase) throws -> Bool {
            let p = reading.probability
            trace.append(p)
            stats.maxFlagProbability = max(stats.maxFlagProbability, p)
            guard let f = flag, f.policy != .off, p >= f.threshold else { return false }
            let action: FlagAction
            switch f.policy {
            case .halt: action = .halted
            case .reflect:
                // Reflected only when <rf> actually goes into the context (room for it and for the next token).
                action = reflections < f.maxReflections && context.position + 1 < context.contextSize ? .reflected : .reported
            case .monitor, .off: action = .reported
            }
            let event = FlagEvent(responseIndex: tokens.count, position: context.position, probability: p,
                                  phase: phase, action: action, textSoFar: text)
            flags.append(event)
            stats.flags += 1
            onEvent(.flag(event))
            if action == .halted { return true }
            if action == .reflected {
                reflections += 1
                try context.evaluate(token: f.tokenID)      // the model sees <rf> as it was trained to
                reading = project()
            }
            return false
        }

        func finish(_ reason: FinishReason) -> GenerationResult {
            text += decoder.flush()
            stats.finishReason = reason
            stats.generationSeconds = Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9
            onEvent(.done(stats))
            let shown = reason == .flagged && !options.returnPartialOnHalt ? options.safeMessage : text
            return GenerationResult(text: shown, rawText: text, tokens: tokens, flags: flags, stats: stats, flagTrace: trace)
        }

        if try check(.firstResponse) { return finish(.flagged) }

        for id in prefill {
            let piece = try decoder.push(id)
            text += piece
            tokens.append(id)
            onEvent(.token(id: id, text: piece, forced: true))
            guard context.position < context.contextSize else { return finish(.length) }
            try context.evaluate(token: id)
            reading = project()
            if try check(.prefill) { return finish(.flagged) }
        }

        while stats.generatedTokens < options.maxTokens {
            if cancel?.isCancelled == true { return finish(.cancelled) }
            let next = sampler.sample(logits, recent: context.tokens[...])
            if stops.contains(next) { return finish(.stop) }
            let piece = try decoder.push(next)
            text += piece
            tokens.append(next)
            stats.generatedTokens += 1
            onEvent(.token(id: next, text: piece, forced: false))
            guard context.position < context.contextSize else { return finish(.length) }
            try context.evaluate(token: next)
            reading = project()
            if try check(.generated) { return finish(.flagged) }
        }
        return finish(.length)
    }

    /// The same generation as an `AsyncThrowingStream` of events (runs on its own thread; cancelling the
    /// consuming task stops it at the next token).
    public func stream(prompt: [Int32], options: GenerationOptions) -> AsyncThrowingStream<GenerationEvent, Error> {
        AsyncThrowingStream { continuation in
            let cancel = CancellationToken()
            continuation.onTermination = { _ in cancel.cancel() }
            let thread = Thread {
                do {
                    _ = try self.generate(prompt: prompt, options: options, cancel: cancel) { continuation.yield($0) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}
