/// A rectangle of pixels: column `x`, row `y`, `width` × `height`. Values, validated at init.
public struct Window: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    /// The left column, 0-based (non-negative).
    public let x: Int
    /// The top row, 0-based (non-negative).
    public let y: Int
    /// Width in pixels (positive).
    public let width: Int
    /// Height in pixels (positive).
    public let height: Int

    /// Creates a window; width and height must be positive and the origin non-negative.
    public init(x: Int, y: Int, width: Int, height: Int) {
        precondition(x >= 0 && y >= 0 && width > 0 && height > 0, "invalid window \(x),\(y) \(width)x\(height)")
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    /// The window as `WxH+X+Y`, e.g. `256x256+512+0`.
    public var description: String { "\(width)x\(height)+\(x)+\(y)" }
}
