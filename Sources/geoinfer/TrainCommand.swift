import ArgumentParser
import Formats
import Foundation
import GeoRaster
import Inference
import Jobs

struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract:
            "Fine-tune a detector on labelled GeoTIFFs (or train one from scratch): an ONNX model, its manifest, a model card and its scores.",
        discussion: """
            Labels are read as `geoinfer evaluate` reads ground truth: DeepForest CSV, Pascal VOC XML, COCO \
            JSON, or a vector file (GeoJSON, GeoPackage, Shapefile, FlatGeobuf) in any CRS, reprojected to each \
            raster. Each raster is resampled to the model's resolution. Validation: the rasters given with \
            --val, or else the right --val-fraction of every raster. Training runs PyTorch in its own Python \
            environment (training/.venv), made on first use; fixed seed, augmentation suited to aerial \
            imagery (flips, 90° turns, colour and brightness jitter, scale jitter around the resolution), \
            early stopping on validation AP50. The new model is then scored with the engine itself, before \
            and after, on the same validation data.
            """)

    @Argument(help: "Labelled GeoTIFFs to train on.") var rasters: [String]
    @Option(name: .customLong("labels"), help: "A label file (repeat for several).") var labels: [String] = []
    @Option(name: .customLong("val"), help: "A labelled GeoTIFF kept for validation (repeat for several).") var validation: [String] = []
    @Option(help: "Output folder: model.onnx, model.json, MODEL_CARD.md, evaluation.json, training.json, the prepared data.")
    var out: String
    @Option(name: .customLong("from"), help: "Start from: default (the default model), scratch, or an ONNX model's path.")
    var from = "default"
    @Option(help: "The new model's name (default: the starting model's name with -finetuned, or detector).") var name: String?
    @Option(help: "The new model's version.") var version = "1.0.0"
    @Option(help: "Training iterations, at most.") var iters = 600
    @Option(help: "Random seed (the same seed, data and thread count give the same model).") var seed = 20_260_417
    @Option(name: .customLong("val-fraction"), help: "Without --val: the right fraction of each raster kept for validation.")
    var valFraction = 0.25
    @Option(name: .customLong("eval-every"), help: "Iterations between validations.") var evalEvery = 50
    @Option(help: "Validations without improvement before stopping early (0: never stop early).") var patience = 5
    @Option(help: "auto (CUDA when PyTorch sees it), cpu or cuda.") var device = "auto"
    @Option(help: "CPU threads for training (default 1; more is faster, but the last bits of the weights then vary).") var threads = 1
    @Option(help: "From scratch: the resolution to train at, metres per pixel.") var gsd = 0.1
    @Flag(
        name: .customLong("one-class"),
        help: "Train one class from every label, named as the starting model's first class (from scratch: object).")
    var oneClass = false

    func validate() throws {
        guard !rasters.isEmpty else { throw ValidationError("give the labelled GeoTIFFs to train on") }
        guard !labels.isEmpty else { throw ValidationError("give the labels with --labels FILE") }
        guard (1...1_000_000).contains(iters) else { throw ValidationError("--iters must be 1 to 1000000") }
        guard (0...0.9).contains(valFraction) else { throw ValidationError("--val-fraction must be 0 to 0.9") }
        guard (1...1_000_000).contains(evalEvery) else { throw ValidationError("--eval-every must be 1 to 1000000") }
        guard (0...10_000).contains(patience) else { throw ValidationError("--patience must be 0 to 10000") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1 to 256") }
        guard ["auto", "cpu", "cuda"].contains(device) else { throw ValidationError("--device must be auto, cpu or cuda") }
        guard gsd.isFinite, gsd > 0, gsd <= 1000 else { throw ValidationError("--gsd must be a positive number of metres") }
        guard ModelReference.isValidPart(version), name.map(ModelReference.isValidPart) ?? true else {
            throw ValidationError(
                "--name and --version must each be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
    }

    func run() async throws {
        let console = Console()
        let outDir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        // The starting model: what it reads (bands, resolution) and its classes.
        let start: ModelFile?
        switch from {
        case "scratch": start = nil
        case "default":
            guard let path = Model.defaultPath() else { throw ValidationError("the default model was not found; give --from PATH") }
            start = try Self.modelFile(path)
        default: start = try Self.modelFile(from)
        }
        let bands = start?.manifest.bandOrder ?? [1, 2, 3]
        let data: TrainingData
        do {
            data = try TrainingData.read(
                rasters: rasters, validation: validation, labels: labels, bands: bands,
                gsd: start.map { $0.manifest.gsdMetres } ?? gsd,
                preferred: start?.manifest.classes ?? [], oneClass: oneClass ? (start?.manifest.classes.first ?? "object") : nil)
            try data.write(to: outDir.appending(path: "data"), bands: bands)
        } catch { throw ValidationError(error.description) }
        let boxes = data.images.map(\.boxes.count).reduce(0, +)
        console.log(
            "\(data.images.count) rasters, \(boxes) labelled boxes, classes \(data.classes.joined(separator: ", ")); \(start.map { "starting from \($0.manifest.name) \($0.manifest.version)" } ?? "from scratch")"
        )

        let training = try Self.trainingFolder()
        let python = try Self.pythonEnvironment(training: training, console: console)
        var arguments = [
            training.appending(path: "finetune.py").path, "--data", outDir.appending(path: "data").path,
            "--out", outDir.path, "--init", start?.path ?? "scratch", "--iters", "\(iters)", "--seed", "\(seed)",
            "--val-fraction", "\(valFraction)", "--eval-every", "\(evalEvery)", "--patience", "\(patience)", "--device", device,
            "--threads", "\(threads)", "--version", version,
        ]
        if let name { arguments += ["--name", name] }
        let started = ContinuousClock.now
        try await Self.runTraining(python: python, arguments: arguments, console: console)
        let seconds = (ContinuousClock.now - started).seconds

        // Scored by the engine itself, before and after, on the same validation data.
        let trained = try Self.modelFile(outDir.appending(path: "model.onnx").path)
        // Without validation data (--val-fraction 0 and no --val) there is nothing to score.
        let validates = valFraction > 0 || data.images.contains { $0.split == "val" }
        var after: EvaluationReport?
        var before: EvaluationReport?
        if validates {
            after = try await score(trained, data: data)
            if let start { before = try await score(start, data: data) }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let after { try encoder.encode(after).write(to: outDir.appending(path: "evaluation.json")) }
        if let before { try encoder.encode(before).write(to: outDir.appending(path: "evaluation_before.json")) }
        try card(trained: trained, start: start, data: data, before: before, after: after, seconds: seconds).write(
            to: outDir.appending(path: "MODEL_CARD.md"), atomically: true, encoding: .utf8)
        func ap50(_ r: EvaluationReport?) -> String { r?.pooled.ap50.map { String(format: "%.3f", $0) } ?? "-" }
        console.log(
            "\(trained.manifest.name) \(trained.manifest.version): validation AP50 \(ap50(after))\(before.map { " (the starting model: \(ap50($0)))" } ?? ""), trained in \(Int(seconds)) s"
        )
        console.log("model: \(trained.path)")
        console.log(
            "register it: geoinfer models add \(trained.path)"
                + (after == nil ? "" : " --metrics \(outDir.appending(path: "evaluation.json").path)"))
    }

    static func modelFile(_ path: String) throws -> ModelFile {
        do { return try ModelFile.read(path: path) } catch { throw ValidationError(error.description) }
    }

    /// The validation images scored with `model`: the --val rasters whole, or else each raster's
    /// right strip (boxes and detections whose centre lies in it).
    func score(_ model: ModelFile, data: TrainingData) async throws -> EvaluationReport {
        let loaded: Model
        do {
            loaded = try await Model.load(
                file: model, options: SessionOptions(threads: max(1, ProcessInfo.processInfo.activeProcessorCount)))
        } catch { throw ValidationError(error.description) }
        let detector = try Detector(model: loaded, options: DetectionOptions())
        let useStrips = !data.images.contains { $0.split == "val" }
        var images: [EvalImage] = []
        for image in data.images where useStrips || image.split == "val" {
            let result = try await detector.run(path: image.path, quicklook: nil).result
            var predictions = PredictedImage(result, classes: model.manifest.classes).predictions
            var truth = image.boxes
            if useStrips {
                let x0 = Double(image.width) * (1 - valFraction)
                predictions = predictions.filter { ($0.x1 + $0.x2) / 2 >= x0 }
                truth = truth.filter { ($0.x1 + $0.x2) / 2 >= x0 }
            }
            images.append(EvalImage(name: image.name, groundTruth: truth, predictions: predictions))
        }
        return Evaluator.evaluate(images, maxDetections: 100)
    }

    /// MODEL_CARD.md: what was trained from what, on what, and how it scores.
    func card(
        trained: ModelFile, start: ModelFile?, data: TrainingData, before: EvaluationReport?, after: EvaluationReport?, seconds: Double
    ) -> String {
        func row(_ label: String, _ r: EvaluationReport) -> String {
            let p = r.pooled
            let at = { (t: Double) in p.matches.first { abs($0.iou_threshold - t) < 1e-9 } }
            let f = { (v: Double?) in v.map { String(format: "%.3f", $0) } ?? "-" }
            return
                "| \(label) | \(p.ground_truth) | \(p.predictions) | \(f(p.ap50)) | \(f(p.ap)) | \(f(at(0.4)?.precision)) | \(f(at(0.4)?.recall)) | \(f(at(0.4)?.f1)) |"
        }
        let validation =
            data.images.contains { $0.split == "val" }
            ? "the rasters given with --val: " + data.images.filter { $0.split == "val" }.map(\.name).joined(separator: ", ")
            : valFraction > 0 ? "the right \(Int(valFraction * 100)) % of each raster (boxes whose centre lies there)" : "none"
        return """
            # \(trained.manifest.name) \(trained.manifest.version)

            \(start.map { "Fine-tuned from \($0.manifest.name) \($0.manifest.version) (SHA-256 \($0.sha256))" } ?? "Trained from scratch") with `geoinfer train`.

            - File: `model.onnx`, SHA-256 `\(trained.sha256)`
            - Classes: \(trained.manifest.classes.joined(separator: ", "))
            - Resolution: \(trained.manifest.gsdMetres.map { "\($0) m per pixel" } ?? "native"); input \(trained.manifest.inputWidth) × \(trained.manifest.inputHeight), bands \(trained.manifest.bandOrder)
            - Score threshold: \(trained.manifest.scoreThreshold.map { "\($0)" } ?? "-"), NMS IoU: \(trained.manifest.iouThreshold.map { "\($0)" } ?? "-")
            - Training rasters: \(data.images.filter { $0.split == nil }.map(\.name).joined(separator: ", ")) (\(data.images.map(\.boxes.count).reduce(0, +)) labelled boxes in all)
            - Validation: \(validation)
            - Settings: at most \(iters) iterations, seed \(seed), validation every \(evalEvery) iterations, patience \(patience), \(threads) thread(s), device \(device); \(Int(seconds)) s of training (`training.json` has the loss and validation history)

            ## Scores on the validation data

            Scored with the engine (`geoinfer evaluate`'s measures; precision, recall and F1 at IoU 0.4).

            \(after.map { after in
                "| model | ground truth | detections | AP50 | AP | precision | recall | F1 |\n|---|---|---|---|---|---|---|---|\n"
                    + (before.map { row("starting model", $0) + "\n" } ?? "") + row("this model", after)
            } ?? "None: trained without validation data (--val-fraction 0 and no --val).")

            Register it: `geoinfer models add model.onnx\(after == nil ? "" : " --metrics evaluation.json")`.

            """
    }

    /// The `training/` folder of this installation.
    static func trainingFolder() throws -> URL {
        guard let script = ResourceLocator.find("training/finetune.py") else {
            throw ValidationError(
                "training/finetune.py was not found above the working directory or this executable; run geoinfer train from a checkout")
        }
        return URL(fileURLWithPath: script).deletingLastPathComponent()
    }

    /// The Python of `training/.venv`, made with its pinned packages (PyTorch among them) on first use.
    static func pythonEnvironment(training: URL, console: Console) throws -> String {
        let python = training.appending(path: ".venv/bin/python").path
        if FileManager.default.isExecutableFile(atPath: python),
            (try? Self.exitStatus(python, ["-c", "import torch, onnx, onnxruntime, pycocotools, PIL, numpy"])) == 0
        {
            return python
        }
        console.log("setting up the training environment in \(training.path)/.venv (first use: PyTorch and pinned packages)")
        guard try Self.exitStatus("/bin/bash", [training.appending(path: "venv.sh").path], output: true) == 0 else {
            throw ValidationError("could not set up the training environment: see the messages above (bash training/venv.sh)")
        }
        return python
    }

    static func exitStatus(_ executable: String, _ arguments: [String], output: Bool = false) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if output {
            p.standardOutput = FileHandle.standardError
        } else {
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
        }
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// The lines a pipe carries until it closes (read as they come).
    static func lines(_ handle: FileHandle) -> AnySequence<String> {
        AnySequence { () -> AnyIterator<String> in
            var buffer = Data()
            var closed = false
            return AnyIterator {
                while true {
                    if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                        buffer.removeSubrange(buffer.startIndex...newline)
                        return line
                    }
                    if closed {
                        guard !buffer.isEmpty else { return nil }
                        defer { buffer.removeAll() }
                        return String(decoding: buffer, as: UTF8.self)
                    }
                    let chunk = handle.availableData
                    if chunk.isEmpty { closed = true } else { buffer.append(chunk) }
                }
            }
        }
    }

    /// Runs the training script, drawing its progress from the JSON lines it prints.
    static func runTraining(python: String, arguments: [String], console: Console) async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.standardError
        try p.run()
        let bar = ProgressBar(console: console, label: "train", unit: "iterations")
        var total = 1
        for line in Self.lines(out.fileHandleForReading) {
            guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
            switch event["event"] as? String {
            case "start":
                total = max(1, event["iters"] as? Int ?? 1)
                console.log(
                    "training on \(event["train_boxes"] as? Int ?? 0) boxes, validating on \(event["val_boxes"] as? Int ?? 0), device \(event["device"] as? String ?? "?")"
                )
            case "iter":
                bar.update(TileProgress(file: "", tilesDone: event["iter"] as? Int ?? 0, tilesTotal: event["iters"] as? Int ?? total))
            case "val":
                let ap = { (k: String) in (event[k] as? Double).map { String(format: "%.3f", $0) } ?? "-" }
                console.log("\niteration \(event["iter"] as? Int ?? 0): validation AP50 \(ap("ap50")) (best \(ap("best_ap50")))")
            case "stop":
                bar.update(TileProgress(file: "", tilesDone: total, tilesTotal: total))
                bar.finish()
                console.log(
                    (event["reason"] as? String == "early" ? "stopped early" : "done")
                        + ": the best weights were at iteration \(event["best_iter"] as? Int ?? 0)")
            default: break
            }
        }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ValidationError("training failed (exit \(p.terminationStatus)): see the message above")
        }
    }
}
