/// SplitMix64: deterministic test data from a seed, so a failing property test replays exactly.
/// A `RandomNumberGenerator`, so `Int.random(in:using:)` and friends draw from it too.
public struct SplitMix: RandomNumberGenerator {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `lo..<hi`.
    public mutating func next(_ lo: Double, _ hi: Double) -> Double {
        lo + (hi - lo) * Double(next() >> 11) / Double(1 << 53)
    }

    /// A non-negative whole number, for picking among cases.
    public mutating func index() -> Int { Int(truncatingIfNeeded: next() >> 1) }
}
