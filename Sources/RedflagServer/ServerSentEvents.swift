/// Server-sent events framing (`data: …\n\n`) and HTTP/1.1 chunked transfer coding for a streamed body.
public enum ServerSentEvents {
    /// The header fields of an event stream.
    public static let headers: [(name: String, value: String)] = [
        ("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"),
    ]

    /// One event whose data is `payload` (a single line: compact JSON has no raw newlines; any newline in
    /// `payload` starts another `data:` line, as the SSE format requires).
    public static func event(_ payload: String) -> [UInt8] {
        var out = ""
        for line in payload.split(separator: "\n", omittingEmptySubsequences: false) { out += "data: \(line)\n" }
        return Array((out + "\n").utf8)
    }

    /// The terminating event of OpenAI streams.
    public static let done: [UInt8] = event("[DONE]")

    /// `bytes` as one chunk of a chunked body (empty input gives no bytes: an empty chunk would end the body).
    public static func chunk(_ bytes: [UInt8]) -> [UInt8] {
        guard !bytes.isEmpty else { return [] }
        return Array((String(bytes.count, radix: 16) + "\r\n").utf8) + bytes + Array("\r\n".utf8)
    }

    /// The last chunk of a chunked body.
    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)
}
