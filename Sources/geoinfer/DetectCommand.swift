import ArgumentParser
import Formats
import Foundation
import GeoRaster
import Inference
import Jobs
import Workers

struct DetectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Run a detector over rasters and write COCO JSON, GeoJSON and a metadata document.",
        discussion: """
            Every raster GDAL reads works (GeoTIFF of any layout, COG, BigTIFF, ...). Rasters are resampled to \
            the model's ground sample distance when they differ by more than 10%, cut into overlapping tiles, \
            and detections are merged across tiles. Results go to OUT/coco.json, OUT/detections.geojson and \
            OUT/metadata.json. A file that cannot be read is reported and skipped; the exit status is 1 when \
            any file failed.
            """
    )

    @Argument(help: "Raster files to process.")
    var files: [String]

    @Option(help: "ONNX model (default: GEOINFER_MODEL, else models/tree-crowns/tree-crowns.onnx).")
    var model: String?

    @Option(help: "Output folder.")
    var out: String = "out"

    @Option(help: "Fraction of a tile shared with its neighbour, 0 to 0.9.")
    var overlap: Double = 0.2

    @Option(name: .customLong("score-threshold"), help: "Minimum score kept (default: the model's recommendation, else 0.25).")
    var scoreThreshold: Double?

    @Option(help: "NMS overlap threshold (default: the model's recommendation, else 0.5).")
    var iou: Double?

    @Option(help: "NMS overlap measure: iou, or ios (intersection over the smaller box; merges boxes cut at tile borders).")
    var nms: String = "iou"

    @Option(help: "Tiles per inference call.")
    var batch: Int = 4

    @Option(help: "Files processed at once, each on its own ONNX Runtime session (default: one per core, at most one per file).")
    var workers: Int?

    @Option(help: "ONNX Runtime intra-op threads of each worker (default: the cores shared out between the workers, at least 1).")
    var threads: Int?

    @Option(help: "cpu, or cuda (needs a GPU build of ONNX Runtime: see GEOINFER_ORT_LIBRARY).")
    var device: String = "cpu"

    @Option(help: "Comma-separated outputs among coco, geojson, gpkg (GeoPackage), fgb (FlatGeobuf); metadata.json is always written.")
    var formats: String = "coco,geojson"

    @Flag(
        help:
            "Merge detections across the files in map coordinates (an orthomosaic cut into tiles): parts of an object cut where files meet are joined, duplicates from overlapping files dropped; writes the detections_merged layer."
    )
    var merge = false

    @Option(name: .customLong("out-crs"), help: "CRS of the GeoPackage and FlatGeobuf layers, as EPSG:n (default: most files' CRS).")
    var outCRS: String?

    @Option(
        name: .customLong("ground-truth"),
        help: "Score the detections against this ground truth (as `geoinfer evaluate` reads it) and keep the scores in metadata.json.")
    var groundTruth: String?

    @Option(name: .customLong("max-pixels"), help: "Refuse rasters with more pixels than this.")
    var maxPixels: Int = 10_000_000_000

    @Option(name: .customLong("max-detections"), help: "Most detections kept per raster.")
    var maxDetections: Int = 100_000

    @Flag(name: .customLong("keep-blank-tiles"), help: "Run tiles that are all nodata or one value instead of skipping them.")
    var keepBlankTiles = false

    func run() async throws {
        guard let nmsMetric = OverlapMetric(rawValue: nms) else { throw ValidationError("--nms must be iou or ios") }
        guard let device = Device(rawValue: device) else { throw ValidationError("--device must be cpu or cuda") }
        let chosen: Set<OutputFormat>
        do { chosen = try OutputFormat.parseList(formats) } catch { throw ValidationError("--\(error.message)") }
        if let groundTruth, !FileManager.default.fileExists(atPath: groundTruth) {
            throw ValidationError("--ground-truth \(groundTruth) does not exist")
        }
        if let outCRS, !CRSName.isKnown(outCRS) {
            throw ValidationError("--out-crs must be EPSG:n with a code GDAL knows (got \(outCRS.prefix(100)))")
        }
        var options = DetectionOptions()
        options.overlap = overlap
        options.scoreThreshold = scoreThreshold
        options.iouThreshold = iou
        options.nmsMetric = nmsMetric
        options.batchSize = batch
        options.maxPixels = maxPixels
        options.maxDetections = maxDetections
        options.skipBlankTiles = !keepBlankTiles
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let workers = self.workers ?? max(1, min(cores, files.count))
        guard workers >= 1, workers <= 256 else { throw ValidationError("--workers must be 1 to 256") }
        let threads = self.threads ?? WorkerConfiguration.defaultThreads(cores: cores, workers: workers)
        guard threads >= 1, threads <= 1024 else { throw ValidationError("--threads must be 1 to 1024") }

        guard let modelPath = model ?? Model.defaultPath() else {
            throw ValidationError(
                "no --model given and the default model (\(Model.defaultRelativePath)) was not found; pass --model PATH or set GEOINFER_MODEL"
            )
        }
        let console = Console()
        MemoryTuning.apply()
        do {
            let loaded = try await Model.load(path: modelPath, options: SessionOptions(threads: threads, device: device), lanes: workers)
            console.log(
                "model \(loaded.manifest.name) \(loaded.manifest.version) (\(loaded.manifest.classes.count) classes, \(loaded.manifest.inputWidth)x\(loaded.manifest.inputHeight), ONNX Runtime \(ONNXRuntime.version), \(device.rawValue), \(workers) workers × \(threads) threads)"
            )
            // Each worker takes the next file: while one reads its raster, another runs its tiles.
            // One worker shows a bar of tiles per file; several show one bar of files.
            let overall = workers > 1 && files.count > 1 ? ProgressBar(console: console, label: "files", unit: "files") : nil
            let outcomes = try await withThrowingTaskGroup(of: (Int, Int, Result<FileResult, any Error>).self) { group in
                var outcomes = [Result<FileResult, any Error>?](repeating: nil, count: files.count)
                var next = 0
                var done = 0
                func start(_ lane: Int) throws {
                    guard next < files.count else { return }
                    let (i, file) = (next, files[next])
                    next += 1
                    let detector = try Detector(model: loaded, options: options, lane: lane)
                    let bar =
                        overall == nil
                        ? ProgressBar(console: console, label: "[\(i + 1)/\(files.count)] \((file as NSString).lastPathComponent)") : nil
                    group.addTask {
                        do {
                            let result = try await detector.detect(path: file) { bar?.update($0) }
                            bar?.finish()
                            return (i, lane, .success(result))
                        } catch {
                            bar?.finish()
                            return (i, lane, .failure(error))
                        }
                    }
                }
                for lane in 0..<workers { try start(lane) }
                while let (i, lane, outcome) = try await group.next() {
                    outcomes[i] = outcome
                    done += 1
                    switch outcome {
                    case .success(let result):
                        console.log(
                            "\(result.info.fileName): \(result.detections.count) detections, \(result.tiles.run) tiles run, \(result.tiles.skipped) skipped, \(String(format: "%.1f", result.timings.total)) s"
                        )
                        for w in result.warnings { console.log("\(result.info.fileName): warning: \(w)") }
                    case .failure(let error):
                        console.error("error: \(error)")
                    }
                    overall?.update(TileProgress(file: "", tilesDone: done, tilesTotal: files.count))
                    try start(lane)
                }
                overall?.finish()
                return outcomes
            }
            var results: [FileResult] = []
            var failures: [(String, any Error)] = []
            for (file, outcome) in zip(files, outcomes) {
                switch outcome {
                case .success(let result)?: results.append(result)
                case .failure(let error)?: failures.append((file, error))
                case nil: failures.append((file, CancellationError()))
                }
            }
            guard !results.isEmpty else { throw ExitCode.failure }
            var report = DetectionReport(model: loaded.file, options: options, threads: threads, device: device, files: results)
            report.outCRS = outCRS.flatMap(CRSName.epsg).map { "EPSG:\($0)" }
            let outURL = URL(fileURLWithPath: out)
            // With --merge, the seam merge runs while COCO and the per-file GeoJSON are written.
            let (succeeded, merging) = (results, merge)
            let (metric, threshold) = (options.nmsMetric, options.resolvedIoU(loaded.manifest))
            let (unmerged, merged) = try report.writeUnmerged(
                to: outURL, formats: chosen,
                meanwhile: { merging ? MergedLayer.merge(files: succeeded, metric: metric, threshold: threshold) : nil })
            if merge {
                report.merged = merged
                if let merged {
                    console.log(
                        "merged: \(merged.detections.count) objects from \(results.map(\.detections.count).reduce(0, +)) detections (\(merged.joined) joined across seams, \(merged.duplicatesDropped) duplicates dropped) in \(merged.crs.hasPrefix("EPSG:") ? merged.crs : "the files' CRS")"
                    )
                } else {
                    console.error("--merge: no file is georeferenced, so there is nothing to merge in map coordinates")
                }
            }
            if let groundTruth {
                do {
                    let evaluation = try EvaluationInputs.score(
                        results, classes: loaded.manifest.classes, groundTruth: groundTruth,
                        label: (groundTruth as NSString).lastPathComponent)
                    report.evaluation = evaluation
                    console.log(EvaluateCommand.table(evaluation))
                } catch {
                    console.error("--ground-truth: \(error.description)")
                    throw ExitCode.failure
                }
            }
            let written = try unmerged + report.writeMerged(to: outURL, formats: chosen)
            console.log("results: " + written.map(\.path).joined(separator: ", "))
            if !failures.isEmpty {
                console.error("\(failures.count) of \(files.count) files failed; results hold the other \(results.count)")
                throw ExitCode.failure
            }
        } catch let error as InferenceError {
            console.error("error: \(error)")
            throw ExitCode.failure
        }
    }
}
