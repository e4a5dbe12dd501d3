import Foundation
import GeoInferTestSupport
import Inference
import Testing

/// A job's settings resolve once, over the model's defaults, with one range per field, from text
/// or numbers alike.
@Suite struct JobSettingsTests {
    let manifest: ModelManifest

    init() throws { manifest = try ModelFile.read(path: Fixtures.model("yolo")).manifest }

    @Test func absentValuesTakeTheModelsDefaults() throws {
        let s = try JobSettings(scoreThreshold: nil as Double?, overlap: nil, manifest: manifest)
        #expect(s.overlap == DetectionOptions().overlap)
        #expect(s.scoreThreshold == (manifest.scoreThreshold ?? 0.25))
        #expect(try JobSettings(scoreThreshold: "", overlap: nil as String?, manifest: manifest) == s)
        #expect(
            try JobSettings(scoreThreshold: "0.3", overlap: "0.5", manifest: manifest)
                == JobSettings(scoreThreshold: 0.3, overlap: 0.5, manifest: manifest))
    }

    /// Every value is either accepted exactly as given (inside its range) or refused naming its
    /// field: never clamped, never a trap.
    @Test func eachFieldHasOneRange() throws {
        var rng = SplitMix(seed: 0x5E77)
        var values: [Double] = [0, 1, 0.9, -0.0, -1e-12, 1 + 1e-12, 0.9 + 1e-12, .nan, .infinity, -.infinity, .greatestFiniteMagnitude]
        for _ in 0..<500 { values.append(rng.next(-2, 3)) }
        for v in values {
            let score = Result { () throws(JobSettings.Invalid) in try JobSettings(scoreThreshold: v, overlap: nil, manifest: manifest) }
            switch score {
            case .success(let s): #expect(JobSettings.scoreThresholds.contains(v) && s.scoreThreshold == v, "\(v)")
            case .failure(let e): #expect(!(JobSettings.scoreThresholds.contains(v)) && e.field == "score_threshold", "\(v)")
            }
            let overlap = Result { () throws(JobSettings.Invalid) in try JobSettings(scoreThreshold: nil, overlap: v, manifest: manifest) }
            switch overlap {
            case .success(let s): #expect(JobSettings.overlaps.contains(v) && s.overlap == v, "\(v)")
            case .failure(let e): #expect(!(JobSettings.overlaps.contains(v)) && e.field == "overlap", "\(v)")
            }
        }
        // Text that is not a number in range gets the same answer as a number out of range.
        for text in ["abc", "nan", "1e309", "0x1p-2junk", " 0.2", "0,3", "-1"] {
            #expect { try JobSettings(scoreThreshold: nil, overlap: text, manifest: manifest) } throws: {
                ($0 as? JobSettings.Invalid).map { $0.field == "overlap" && $0.message == "overlap must be a number between 0 and 0.9" }
                    ?? false
            }
        }
        // `detect`'s options take the same ranges.
        var options = DetectionOptions()
        options.overlap = 0.95
        #expect(throws: InferenceError.self) { try options.validate() }
    }
}

/// An inference error says whether another attempt at the file could succeed.
@Suite struct RetryabilityTests {
    @Test func onlyAFailedRunIsWorthAnotherAttempt() throws {
        var options = DetectionOptions()
        options.overlap = 0.95
        do {
            try options.validate()
            Issue.record("an overlap of 0.95 passed")
        } catch { #expect(!error.isRetryable) }
        do {
            _ = try TilePlan(rasterWidth: 1000, rasterHeight: 1000, tileWidth: 4, tileHeight: 4, overlap: 0.2, scale: 1, maxGridPixels: 100)
            Issue.record("an impossible plan passed")
        } catch { #expect(!error.isRetryable && error.isFileRefused) }
        do {
            _ = try ModelFile.read(path: "/nonexistent.onnx")
            Issue.record("a missing model read")
        } catch { #expect(!error.isRetryable) }
    }
}
