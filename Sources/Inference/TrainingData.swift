public import Foundation
import GeoRaster

/// A labelled dataset for `geoinfer train`, written where the training script reads it:
/// `DIR/images/{n}.png` (each raster at the model's resolution, 8-bit, the model's bands in its
/// order) and `DIR/dataset.json` (classes, resolution, and each image's boxes in its PNG's pixels).
public struct TrainingData: Sendable {
    /// One labelled raster as written.
    public struct Image: Sendable {
        /// The raster's file name (what labels name it by).
        public var name: String
        /// The raster's path as given; it is read again when its PNG is written.
        public var path: String
        /// The raster's width in its own pixels.
        public var width: Int
        /// The raster's height in its own pixels.
        public var height: Int
        /// PNG pixels per raster pixel: the raster's ground sample distance over the model's (1 when either is unknown).
        public var scale: Double
        /// Boxes in the raster's own pixels.
        public var boxes: [EvalBox]
        /// `val` for a validation raster; nil: the training script holds out the right strip.
        public var split: String?
    }

    /// The labelled rasters: the training ones, then the validation ones, each in the order given.
    public var images: [Image]
    /// The class names in class-index order: those of `preferred` (the starting model's) first,
    /// then the rest alphabetically.
    public var classes: [String]
    /// Metres per pixel of the PNGs; nil: each raster at its native resolution.
    public var gsdMetres: Double?

    /// Why a dataset cannot be made; the message names the file and what to change.
    public struct Problem: Error, CustomStringConvertible, Sendable {
        /// What is wrong, naming the file and what to change.
        public let description: String
    }

    /// The largest PNG written per raster (pixels at the model's resolution).
    public static let maxImagePixels = 100_000_000

    /// Reads the labels of `rasters` (training) and `validation` from `labels` (each in a format
    /// `geoinfer evaluate` reads; vector files are reprojected to each raster), for a model of
    /// `bands` at `gsd` metres (nil: native resolution). Classes are the labels' own, in the order
    /// of `preferred` where they appear there, then alphabetically.
    public static func read(
        rasters: [String], validation: [String], labels: [String], bands: [Int], gsd: Double?, preferred: [String],
        oneClass: String? = nil
    ) throws(Problem) -> TrainingData {
        var images: [Image] = []
        // Each raster as the label readers see it: its name, size and georeferencing.
        var known: [PredictedImage] = []
        var seen = Set<String>()
        for (path, split) in rasters.map({ ($0, String?.none) }) + validation.map({ ($0, "val") }) {
            let raster: Raster
            do { raster = try Raster(path: path) } catch { throw Problem(description: "\(path): \(error.reason). \(error.remedy)") }
            let info = raster.info
            guard bands.allSatisfy({ (1...info.bandCount).contains($0) }) else {
                throw Problem(description: "\(path) has \(info.bandCount) bands; the model reads bands \(bands)")
            }
            let name = (path as NSString).lastPathComponent
            guard seen.insert(name).inserted else {
                throw Problem(description: "two rasters are named \(name): labels name rasters by file name, so rename one")
            }
            var scale = 1.0
            if let gsd, let native = info.gsdMetres, native > 0 { scale = native / gsd }
            let pixels = Double(info.width) * scale * Double(info.height) * scale
            guard pixels.isFinite, pixels <= Double(maxImagePixels) else {
                throw Problem(
                    description:
                        "\(path) is \(Int(min(pixels, 1e18))) pixels at the model's resolution, more than \(maxImagePixels): cut it into smaller files"
                )
            }
            images.append(Image(name: name, path: path, width: info.width, height: info.height, scale: scale, boxes: [], split: split))
            known.append(
                PredictedImage(
                    name: name, width: info.width, height: info.height, crs: MergedLayer.crsKey(info),
                    geoTransform: info.isGeoreferenced ? info.geoTransform?.coefficients : nil, predictions: []))
        }
        guard !images.isEmpty else { throw Problem(description: "no rasters to train on") }
        for file in labels {
            let truth: [String: [EvalBox]]
            do { truth = try EvaluationInputs.groundTruth(file, for: known) } catch { throw Problem(description: error.description) }
            for i in images.indices { images[i].boxes += truth[images[i].name] ?? [] }
        }
        guard images.contains(where: { !$0.boxes.isEmpty }) else {
            throw Problem(
                description:
                    "the labels name none of the rasters (\(images.prefix(3).map(\.name).joined(separator: ", "))…): labels are matched by file name, or by location for vector files"
            )
        }
        if let oneClass {
            for i in images.indices { for j in images[i].boxes.indices { images[i].boxes[j].label = oneClass } }
        }
        // A label that is one of the starting model's classes but for case takes the model's spelling.
        let spelling = Dictionary(preferred.map { ($0.lowercased(), $0) }, uniquingKeysWith: { first, _ in first })
        for i in images.indices {
            for j in images[i].boxes.indices {
                images[i].boxes[j].label = spelling[images[i].boxes[j].label.lowercased()] ?? images[i].boxes[j].label
            }
        }
        let names = Set(images.flatMap { $0.boxes.map(\.label) })
        let ordered = preferred.filter(names.contains) + names.subtracting(preferred).sorted()
        return TrainingData(images: images, classes: ordered, gsdMetres: gsd)
    }

    /// Writes the PNGs and `dataset.json` into `dir`.
    public func write(to dir: URL, bands: [Int]) throws(Problem) {
        let imagesDir = dir.appending(path: "images")
        do { try FileManager.default.createDirectory(at: imagesDir, withIntermediateDirectories: true) } catch {
            throw Problem(description: "cannot make \(imagesDir.path): \(error.localizedDescription)")
        }
        struct Entry: Encodable {
            let file: String
            let boxes: [[Double]]
            let split: String?
        }
        struct Document: Encodable {
            let classes: [String]
            let gsd_m: Double?
            let images: [Entry]
        }
        var entries: [Entry] = []
        for (index, image) in images.enumerated() {
            let file = "images/\(index).png"
            try Self.writePNG(image, bands: bands, to: dir.appending(path: file).path)
            let boxes = image.boxes.compactMap { b -> [Double]? in
                guard let c = classes.firstIndex(of: b.label) else { return nil }
                return [b.x1 * image.scale, b.y1 * image.scale, b.x2 * image.scale, b.y2 * image.scale, Double(c)]
            }
            entries.append(Entry(file: file, boxes: boxes, split: image.split))
        }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(Document(classes: classes, gsd_m: gsdMetres, images: entries)).write(
                to: dir.appending(path: "dataset.json"))
        } catch {
            throw Problem(description: "cannot write \(dir.appending(path: "dataset.json").path): \(error.localizedDescription)")
        }
    }

    /// The raster at the model's resolution as an 8-bit PNG of `bands`, read 256 output rows at a time.
    static func writePNG(_ image: Image, bands: [Int], to path: String) throws(Problem) {
        let outWidth = max(1, Int((Double(image.width) * image.scale).rounded()))
        let outHeight = max(1, Int((Double(image.height) * image.scale).rounded()))
        do {
            let raster = try Raster(path: image.path)
            let writer = try RasterWriter(
                path: path, width: outWidth, height: outHeight, bandCount: bands.count, dataType: .byte, driver: "PNG")
            let resampling: Resampling = image.scale < 1 ? .average : .bilinear
            var row = 0
            while row < outHeight {
                let rows = min(256, outHeight - row)
                var floats = [Float](repeating: 0, count: rows * outWidth * bands.count)
                let y = Double(row) / Double(outHeight) * Double(image.height)
                let h = Double(rows) / Double(outHeight) * Double(image.height)
                try floats.withUnsafeMutableBufferPointer { buffer throws(RasterError) in
                    try raster.read(
                        x: 0, y: y, width: Double(image.width), height: h, outWidth: outWidth, outHeight: rows, bands: bands,
                        resampling: resampling, into: buffer, offset: 0, rowStride: outWidth, bandStride: rows * outWidth)
                }
                let bytes = floats.map { UInt8(max(0, min(255, $0.isFinite ? $0.rounded() : 0))) }
                try writer.write(window: Window(x: 0, y: row, width: outWidth, height: rows), bytes: bytes)
                row += rows
            }
            try writer.finish()
        } catch {
            throw Problem(description: "\(image.path): cannot write its training image: \(error.reason)")
        }
    }
}
