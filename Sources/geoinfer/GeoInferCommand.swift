import ArgumentParser

@main
struct GeoInferCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "geoinfer",
        abstract: "Object detection over georeferenced rasters, tile by tile, with georeferenced results.",
        subcommands: [
            ServeCommand.self, WorkerCommand.self, BenchQueueCommand.self, BenchMergeCommand.self, EvaluateCommand.self, TrainCommand.self,
            SubmitCommand.self,
            StatusCommand.self, WatchCommand.self, ResultsCommand.self, WebhookCommand.self, KeysCommand.self, ModelsCommand.self,
            GCSCommand.self,
            InitCommand.self, DetectCommand.self, ModelInfoCommand.self,
        ]
    )
}
