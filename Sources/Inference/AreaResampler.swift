/// Area-average downsampling of 8-bit pixels, done in one pass over bytes read at full resolution:
/// each output pixel is the mean of the source pixels it covers, weighted by how much of each it
/// covers (GDAL's `average` on a fractional window, without its Float32 round trip). Used by the
/// tile reader for 8-bit rasters finer than the model's resolution, the common case of drone and
/// aerial imagery.
///
/// Weights are fixed-point, 1/1024 steps summing to exactly 1024 along each axis, and sums are
/// integers: a constant area stays exactly constant (so a blank tile is still seen as blank), and
/// 1024 × 1024 × 255 fits an `Int32`.
struct AreaResampler {
    /// The source pixels one output pixel covers along one axis, with their weights (summing to 1).
    /// The fixed-point one of a weight.
    static let one: Int32 = 1024

    struct Taps: Equatable {
        /// First source index of each output pixel, relative to the window read.
        var start: [Int]
        /// Source pixels per output pixel (the same stride for every output pixel).
        var count: Int
        /// `count` weights per output pixel, in 1/1024 steps, summing to ``one``.
        var weights: [Int32]
    }

    /// The taps mapping `outLength` output pixels onto the source span [`origin`, `origin + length`)
    /// of a window whose first pixel is `windowStart` and which holds `windowLength` pixels.
    static func taps(origin: Double, length: Double, outLength: Int, windowStart: Int, windowLength: Int) -> Taps {
        let step = length / Double(outLength)
        // At most ceil(step) + 1 source pixels touch one output pixel.
        let count = max(1, min(windowLength, Int(step.rounded(.up)) + 1))
        var start = [Int](repeating: 0, count: outLength)
        var weights = [Int32](repeating: 0, count: outLength * count)
        var w = [Double](repeating: 0, count: count)
        for o in 0..<outLength {
            let a = origin + Double(o) * step
            let b = origin + Double(o + 1) * step
            // Relative to the window; moved left near its end so all `count` taps stay inside it
            // (the pixels the output covers are still among them: they end where the window does).
            let first = max(0, min(Int(a.rounded(.down)) - windowStart, windowLength - count))
            start[o] = first
            var total = 0.0
            for k in 0..<count {
                let p = Double(windowStart + first + k)
                w[k] = max(0, min(b, p + 1) - max(a, p))
                total += w[k]
            }
            if total <= 0 {
                w[0] = 1
                total = 1
            }
            // Largest remainder: each weight is its exact share rounded down, and the steps left
            // over go to the largest fractions, so the sum is exactly `one` and no weight is more
            // than a step off or below 0.
            var sum: Int32 = 0
            var fractions: [(k: Int, f: Double)] = []
            for k in 0..<count {
                let exact = w[k] / total * Double(one)
                let q = Int32(exact.rounded(.down))
                weights[o * count + k] = q
                sum += q
                fractions.append((k, exact - Double(q)))
            }
            fractions.sort { $0.f > $1.f }
            for i in 0..<Int(one - sum) { weights[o * count + fractions[i % count].k] += 1 }
        }
        return Taps(start: start, count: count, weights: weights)
    }

    let columns: Taps
    let rows: Taps
    /// Width of a source row in the byte buffer (the window's width).
    let sourceWidth: Int
    /// Rows of the window.
    let sourceHeight: Int

    /// Resamples one band: `source` holds `sourceHeight` rows of `sourceWidth` bytes; the result goes
    /// to `out`, rows `rowStride` floats apart. `scratch` holds one row of `sourceWidth` integers.
    func resample(
        _ source: UnsafePointer<UInt8>, into out: UnsafeMutablePointer<Float>, rowStride: Int,
        scratch: UnsafeMutablePointer<Int32>
    ) {
        let outW = columns.start.count
        let outH = rows.start.count
        let rc = rows.count
        let cc = columns.count
        let unit = 1 / Float(Int(Self.one) * Int(Self.one))
        rows.weights.withUnsafeBufferPointer { rw in
            columns.weights.withUnsafeBufferPointer { cw in
                columns.start.withUnsafeBufferPointer { cs in
                    for oy in 0..<outH {
                        // Vertical first, over whole source rows: contiguous, so the compiler vectorises it.
                        let first = rows.start[oy]
                        let w0 = rw[oy * rc]
                        let row0 = source + first * sourceWidth
                        for x in 0..<sourceWidth { scratch[x] = w0 &* Int32(row0[x]) }
                        for k in 1..<max(1, rc) {
                            let wk = rw[oy * rc + k]
                            guard wk != 0 else { continue }
                            let row = source + (first + k) * sourceWidth
                            for x in 0..<sourceWidth { scratch[x] &+= wk &* Int32(row[x]) }
                        }
                        // Then across the row: unrolled for two and three taps (a reduction by up to
                        // 2), the common cases, where the loop over taps cost more than the taps.
                        let dst = out + oy * rowStride
                        switch cc {
                        case 2:
                            for ox in 0..<outW {
                                let s = cs[ox]
                                let acc = cw[ox &* 2] &* scratch[s] &+ cw[ox &* 2 &+ 1] &* scratch[s &+ 1]
                                dst[ox] = Float(acc) * unit
                            }
                        case 3:
                            for ox in 0..<outW {
                                let s = cs[ox]
                                let w = ox &* 3
                                let acc = cw[w] &* scratch[s] &+ cw[w &+ 1] &* scratch[s &+ 1] &+ cw[w &+ 2] &* scratch[s &+ 2]
                                dst[ox] = Float(acc) * unit
                            }
                        default:
                            for ox in 0..<outW {
                                let s = cs[ox]
                                var acc: Int32 = 0
                                for k in 0..<cc { acc &+= cw[ox &* cc &+ k] &* scratch[s &+ k] }
                                dst[ox] = Float(acc) * unit
                            }
                        }
                    }
                }
            }
        }
    }
}
