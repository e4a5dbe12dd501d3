import ArgumentParser
import Foundation
import Inference

struct ModelInfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model-info",
        abstract: "Print a model's manifest (classes, input size, bands, normalisation, GSD, output layout) as JSON."
    )

    @Argument(help: "ONNX model (default: the default model).")
    var model: String?

    func run() async throws {
        guard let path = model ?? Model.defaultPath() else {
            throw ValidationError("no model given and the default model (\(Model.defaultRelativePath)) was not found")
        }
        do {
            let loaded = try await Model.load(path: path, options: SessionOptions(threads: 1))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(loaded.manifest), as: UTF8.self))
            print("sha256: \(loaded.sha256)")
        } catch let error as InferenceError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
