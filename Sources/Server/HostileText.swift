import HTTPTypes

/// Checks on text a caller sends before it goes anywhere: NUL and other control characters are
/// refused (PostgreSQL rejects NUL outright, and logs and file systems mishandle the rest).
enum HostileText {
    /// Whether `s` holds a NUL or another control character (tab included: none of the values
    /// checked here has a reason to carry one).
    static func hasControl(_ s: some StringProtocol) -> Bool {
        s.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// Throws a 400 naming `what` when `s` holds a control character.
    static func check(_ s: some StringProtocol, _ what: String) throws(APIError) {
        guard !hasControl(s) else { throw APIError(.badRequest, "control_characters", "\(what) holds NUL or other control characters") }
    }

    /// Whether `s` can be an id this API hands out (jobs, keys): letters, digits, `-` and `_`, at most 64.
    static func isID(_ s: some StringProtocol) -> Bool {
        !s.isEmpty && s.count <= 64
            && s.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")
            }
    }
}
