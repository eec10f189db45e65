/// Maps a method and path to an endpoint (pure; the server dispatches on the result).
public enum Route: Equatable, Sendable {
    case completions
    case chatCompletions
    case models
    case health
    /// The path exists but not for this method; `allowed` goes into the `Allow` header of the 405.
    case methodNotAllowed(allowed: [String])
    case notFound

    /// The route for `method` on `path` (the query string already removed; a trailing `/` is ignored).
    public static func resolve(method: String, path: String) -> Route {
        let p = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        let table: [String: (method: String, route: Route)] = [
            "/v1/completions": ("POST", .completions),
            "/v1/chat/completions": ("POST", .chatCompletions),
            "/v1/models": ("GET", .models),
            "/health": ("GET", .health),
        ]
        guard let entry = table[p] else { return .notFound }
        return method == entry.method ? entry.route : .methodNotAllowed(allowed: [entry.method])
    }
}
