import RedflagGGUF

extension FlagConfiguration {
    /// The model's own flag settings (`redflag.token_id`, `redflag.threshold`), falling back to
    /// `<unused0>` (looked up by `lookup`) and `defaultThreshold`.
    public static func fromModel(_ gguf: GGUFFile, lookup: (String) -> Int32?, policy: FlagPolicy) -> FlagConfiguration? {
        let id = gguf.int(GGUFKeys.redflagTokenID).map { Int32($0) } ?? lookup(defaultTokenPiece)
        guard let token = id else { return nil }
        let tau = gguf.double(GGUFKeys.redflagThreshold).map { Float($0) } ?? defaultThreshold
        return FlagConfiguration(tokenID: token, threshold: tau, policy: policy)
    }
}
