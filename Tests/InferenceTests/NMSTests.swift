import GeoInferTestSupport
import Inference
import Testing

@Suite struct NMSTests {
    func d(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ s: Float, _ c: Int = 0) -> Detection {
        Detection(box: Box(x1: x1, y1: y1, x2: x2, y2: y2), score: s, classIndex: c)
    }

    @Test func suppressesOverlapsPerClass() {
        let kept = NonMaximumSuppression.apply(
            [
                d(0, 0, 10, 10, 0.9), d(1, 1, 11, 11, 0.8),  // IoU 81/119 = 0.68: suppressed
                d(1, 1, 11, 11, 0.7, 1),  // other class: kept
                d(20, 20, 30, 30, 0.6),  // apart: kept
            ], threshold: 0.5)
        #expect(kept == [d(0, 0, 10, 10, 0.9), d(1, 1, 11, 11, 0.7, 1), d(20, 20, 30, 30, 0.6)])
    }

    @Test func intersectionOverSmallerMergesCutBoxes() {
        let whole = d(0, 0, 20, 10, 0.9)
        let cut = d(12, 0, 20, 10, 0.85)  // IoU 0.4, IoS 1
        #expect(NonMaximumSuppression.apply([whole, cut], threshold: 0.5, metric: .iou).count == 2)
        #expect(NonMaximumSuppression.apply([whole, cut], threshold: 0.5, metric: .ios) == [whole])
    }

    @Test func keepsTheBestMaxDetections() {
        let many = (0..<10).map { d(Double($0) * 20, 0, Double($0) * 20 + 10, 10, Float($0) / 10) }
        let kept = NonMaximumSuppression.apply(many, threshold: 0.5, maxDetections: 3)
        #expect(kept.map(\.score) == [0.9, 0.8, 0.7])
    }

    /// The grid index finds exactly what comparing every pair finds.
    @Test(arguments: [NMSMetric.iou, .ios])
    func gridAgreesWithBruteForce(_ m: NMSMetric) {
        var rng = SplitMix(seed: 42)
        let boxes = (0..<3000).map { _ -> Detection in
            let x = rng.next(0, 2000)
            let y = rng.next(0, 2000)
            let w = rng.next(2, 80)
            let h = rng.next(2, 80)
            return d(x, y, x + w, y + h, Float(rng.next(0, 1)), Int(rng.next(0, 2.999)))
        }
        let metric: OverlapMetric = m == .iou ? .iou : .ios
        let fast = NonMaximumSuppression.apply(boxes, threshold: 0.45, metric: metric)
        // Reference: sort by score, compare with every kept box.
        let order = boxes.indices.sorted { boxes[$0].score != boxes[$1].score ? boxes[$0].score > boxes[$1].score : $0 < $1 }
        var kept: [Detection] = []
        for i in order
        where !kept.contains(where: {
            $0.classIndex == boxes[i].classIndex && NonMaximumSuppression.overlap($0.box, boxes[i].box, metric) > 0.45
        }) {
            kept.append(boxes[i])
        }
        #expect(fast == kept)
        #expect(kept.count > 500 && kept.count < 3000)
    }

    enum NMSMetric: Sendable { case iou, ios }
}
