public import GeoRaster

/// An axis-aligned box (x1, y1) top-left to (x2, y2) bottom-right, in pixels.
public struct Box: Sendable, Equatable, Hashable, Codable {
    /// Left edge, in pixels.
    public var x1: Double
    /// Top edge, in pixels (y grows downwards).
    public var y1: Double
    /// Right edge, in pixels.
    public var x2: Double
    /// Bottom edge, in pixels.
    public var y2: Double

    /// A box from its edges as given: they are neither reordered nor clipped (an inverted box has no area).
    public init(x1: Double, y1: Double, x2: Double, y2: Double) {
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
    }

    /// `x2 - x1`, or 0 when the box is inverted.
    public var width: Double { max(0, x2 - x1) }
    /// `y2 - y1`, or 0 when the box is inverted.
    public var height: Double { max(0, y2 - y1) }
    /// `width` × `height`, in square pixels: 0 for an empty or inverted box.
    public var area: Double { width * height }

    /// The area this box shares with `o`, in square pixels; 0 when they do not overlap.
    public func intersection(_ o: Box) -> Double {
        max(0, min(x2, o.x2) - max(x1, o.x1)) * max(0, min(y2, o.y2) - max(y1, o.y1))
    }

    /// The four corners, clockwise from the top-left in pixel space.
    public var corners: [(x: Double, y: Double)] { [(x1, y1), (x2, y1), (x2, y2), (x1, y2)] }

    /// The box clipped to [0, width] × [0, height].
    public func clipped(width w: Double, height h: Double) -> Box {
        Box(x1: min(max(x1, 0), w), y1: min(max(y1, 0), h), x2: min(max(x2, 0), w), y2: min(max(y2, 0), h))
    }
}

/// One detection: a box, a score in [0, 1] and a 0-based class index into the manifest's classes.
public struct Detection: Sendable, Equatable, Codable {
    /// Where the object is: in a tile's input pixels when just decoded, in the raster's pixels once placed (as in
    /// a ``FileResult``).
    public var box: Box
    /// The model's confidence, in [0, 1].
    public var score: Float
    /// The object's class: a 0-based index into the manifest's `classes`.
    public var classIndex: Int

    /// A detection from its parts as given; nothing is checked.
    public init(box: Box, score: Float, classIndex: Int) {
        self.box = box
        self.score = score
        self.classIndex = classIndex
    }
}

extension GeoTransform {
    /// The four corners of each box (``Box/corners``) in the raster's CRS, in one flat list.
    public func corners(of boxes: [Box]) -> [(Double, Double)] {
        var out: [(Double, Double)] = []
        out.reserveCapacity(boxes.count * 4)
        for b in boxes {
            for c in b.corners {
                let p = apply(x: c.x, y: c.y)
                out.append((p.x, p.y))
            }
        }
        return out
    }
}
