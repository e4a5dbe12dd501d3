public import Formats
import Foundation
import GeoRaster

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The images of a GeoInfer result (its `coco.json`): size, georeferencing and predictions.
public struct PredictedImage: Sendable {
    /// The raster's file name, as `coco.json` gives it: ground truth is matched by it.
    public var name: String
    /// The raster's width in pixels.
    public var width: Int
    /// The raster's height in pixels.
    public var height: Int
    /// The raster's CRS, `EPSG:n` or WKT; nil without georeferencing.
    public var crs: String?
    /// GDAL's six geotransform coefficients (pixel to CRS); nil without georeferencing.
    public var geoTransform: [Double]?
    /// The run's boxes in the raster's pixels, each with its class name and score.
    public var predictions: [EvalBox]
}

/// A ground-truth or prediction file that cannot be read; the message names the file and the place.
public struct EvaluationInputError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, naming the file and the place in it.
    public let description: String
}

extension PredictedImage {
    /// A run's own result for one raster, as `evaluate` reads it from `coco.json`.
    public init(_ f: FileResult, classes: [String]) {
        self.init(
            name: f.info.fileName, width: f.info.width, height: f.info.height, crs: MergedLayer.crsKey(f.info),
            geoTransform: f.info.isGeoreferenced ? f.info.geoTransform?.coefficients : nil,
            predictions: f.detections.map { g in
                let b = g.detection.box
                return EvalBox(
                    x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2, label: DetectionReport.className(classes, g.detection.classIndex),
                    score: Double(g.detection.score))
            })
    }
}

/// Reads what an evaluation compares (a run's predictions, and ground truth in the formats `geoinfer evaluate`
/// accepts) and scores one against the other.
public enum EvaluationInputs {
    /// Ground-truth file extensions a job accepts (a Shapefile's several files cannot be one upload).
    public static let jobExtensions: Set<String> = ["csv", "xml", "json", "geojson", "gpkg", "fgb"]

    /// Scores a run's `results` against the ground truth at `path`: images matched by file name,
    /// or by the name in `aliases` (a result's file name → the name it was submitted under).
    /// `label` names the ground truth in the report.
    public static func score(
        _ results: [FileResult], classes: [String], groundTruth path: String, label: String, aliases: [String: String] = [:]
    ) throws(EvaluationInputError) -> EvaluationReport {
        let images = results.map { PredictedImage($0, classes: classes) }
        let truth = try groundTruth(path, for: images)
        var report = Evaluator.evaluate(
            images.map { image in
                EvalImage(
                    name: image.name, groundTruth: truth[image.name] ?? aliases[image.name].flatMap { truth[$0] } ?? [],
                    predictions: image.predictions)
            })
        report.ground_truth_file = label
        return report
    }

    /// The predictions of a GeoInfer run: its `coco.json`, or a folder holding one.
    public static func predictions(_ path: String) throws(EvaluationInputError) -> [PredictedImage] {
        var isDirectory: ObjCBool = false
        let file =
            FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            ? (path as NSString).appendingPathComponent("coco.json") : path
        guard let data = FileManager.default.contents(atPath: file),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let images = json["images"] as? [[String: Any]], let annotations = json["annotations"] as? [[String: Any]]
        else {
            throw EvaluationInputError(
                description: "\(file): not a COCO document with images and annotations (give a GeoInfer result folder or its coco.json)")
        }
        let names = categoryNames(json)
        var out: [Int: PredictedImage] = [:]
        var order: [Int] = []
        for image in images {
            guard let id = image["id"] as? Int, let name = image["file_name"] as? String,
                let w = image["width"] as? Int, let h = image["height"] as? Int
            else {
                throw EvaluationInputError(description: "\(file): an image without id, file_name, width and height")
            }
            let gt = (image["geotransform"] as? [Double]).flatMap { $0.count == 6 ? $0 : nil }
            out[id] = PredictedImage(name: name, width: w, height: h, crs: image["crs"] as? String, geoTransform: gt, predictions: [])
            order.append(id)
        }
        for a in annotations {
            guard let id = a["image_id"] as? Int, let bbox = a["bbox"] as? [Double], bbox.count == 4, out[id] != nil else {
                throw EvaluationInputError(description: "\(file): an annotation without a known image_id and a four-number bbox")
            }
            let category = a["category_id"] as? Int ?? 0
            out[id]?.predictions.append(
                EvalBox(
                    x1: bbox[0], y1: bbox[1], x2: bbox[0] + bbox[2], y2: bbox[1] + bbox[3],
                    label: names[category] ?? "class_\(category)", score: a["score"] as? Double ?? 0))
        }
        return order.compactMap { out[$0] }
    }

    /// Ground truth for `images`, by image name, in each image's pixels. Formats, by content and
    /// extension: DeepForest CSV (`image_path,xmin,ymin,xmax,ymax,label`), Pascal VOC XML (a file
    /// or a folder of them), COCO JSON (pixel boxes, images by file name), or any vector file GDAL
    /// reads (GeoJSON, GeoPackage, Shapefile, FlatGeobuf: boxes or polygons in any CRS, each
    /// reprojected to every georeferenced image it lies on, and kept there when at least half of
    /// it is inside, clipped to the image).
    public static func groundTruth(_ path: String, for images: [PredictedImage]) throws(EvaluationInputError) -> [String: [EvalBox]] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw EvaluationInputError(description: "\(path): not found")
        }
        let ext = (path as NSString).pathExtension.lowercased()
        if isDirectory.boolValue {
            let xmls = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.lowercased().hasSuffix(".xml") }
                .sorted()
            var all: [String: [EvalBox]] = [:]
            for x in xmls {
                let (name, boxes) = try voc((path as NSString).appendingPathComponent(x))
                all[name, default: []] += boxes
            }
            return all
        }
        switch ext {
        case "csv": return try deepForestCSV(path)
        case "xml":
            let (name, boxes) = try voc(path)
            return [name: boxes]
        case "json":
            if let data = FileManager.default.contents(atPath: path),
                let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any], json["annotations"] != nil
            {
                return try coco(json, file: path)
            }
            return try vector(path, images: images)
        default:
            return try vector(path, images: images)
        }
    }

    /// A COCO document's category names by id.
    static func categoryNames(_ json: [String: Any]) -> [Int: String] {
        Dictionary(
            (json["categories"] as? [[String: Any]] ?? []).compactMap { c -> (Int, String)? in
                guard let id = c["id"] as? Int, let name = c["name"] as? String else { return nil }
                return (id, name)
            }, uniquingKeysWith: { a, _ in a })
    }

    static func deepForestCSV(_ path: String) throws(EvaluationInputError) -> [String: [EvalBox]] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EvaluationInputError(description: "\(path): cannot be read")
        }
        let lines = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).map(String.init)
        guard let header = lines.first?.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) else {
            throw EvaluationInputError(description: "\(path): empty")
        }
        let wanted = ["image_path", "xmin", "ymin", "xmax", "ymax", "label"]
        let columns = wanted.map { header.firstIndex(of: $0) }
        guard columns.allSatisfy({ $0 != nil }) else {
            throw EvaluationInputError(
                description: "\(path): the header must name image_path, xmin, ymin, xmax, ymax, label (DeepForest's CSV)")
        }
        let index = columns.compactMap { $0 }
        var out: [String: [EvalBox]] = [:]
        for (n, line) in lines.dropFirst().enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard index.allSatisfy({ $0 < cells.count }), let x1 = Double(cells[index[1]]), let y1 = Double(cells[index[2]]),
                let x2 = Double(cells[index[3]]), let y2 = Double(cells[index[4]]), [x1, y1, x2, y2].allSatisfy(\.isFinite)
            else {
                throw EvaluationInputError(description: "\(path) line \(n + 2): expected image_path, four numbers and a label")
            }
            out[(cells[index[0]] as NSString).lastPathComponent, default: []].append(
                EvalBox(x1: x1, y1: y1, x2: x2, y2: y2, label: cells[index[5]]))
        }
        return out
    }

    static func coco(_ json: [String: Any], file: String) throws(EvaluationInputError) -> [String: [EvalBox]] {
        let names = categoryNames(json)
        let images = Dictionary(
            (json["images"] as? [[String: Any]] ?? []).compactMap { i -> (Int, String)? in
                guard let id = i["id"] as? Int, let name = i["file_name"] as? String else { return nil }
                return (id, (name as NSString).lastPathComponent)
            }, uniquingKeysWith: { a, _ in a })
        var out: [String: [EvalBox]] = [:]
        for a in json["annotations"] as? [[String: Any]] ?? [] {
            guard let id = a["image_id"] as? Int, let image = images[id], let b = a["bbox"] as? [Double], b.count == 4 else {
                throw EvaluationInputError(description: "\(file): an annotation without a known image_id and a four-number bbox")
            }
            let category = a["category_id"] as? Int ?? 0
            out[image, default: []].append(
                EvalBox(x1: b[0], y1: b[1], x2: b[0] + b[2], y2: b[1] + b[3], label: names[category] ?? "class_\(category)"))
        }
        return out
    }

    static func voc(_ path: String) throws(EvaluationInputError) -> (String, [EvalBox]) {
        guard let parser = XMLParser(contentsOf: URL(fileURLWithPath: path)) else {
            throw EvaluationInputError(description: "\(path): cannot be read")
        }
        let reader = VOCReader()
        parser.delegate = reader
        guard parser.parse(), let name = reader.fileName else {
            throw EvaluationInputError(
                description: "\(path): not Pascal VOC XML with a filename (\(parser.parserError.map { "\($0)" } ?? "no <filename>"))")
        }
        if let problem = reader.problem { throw EvaluationInputError(description: "\(path): \(problem)") }
        return ((name as NSString).lastPathComponent, reader.boxes)
    }

    static func vector(_ path: String, images: [PredictedImage]) throws(EvaluationInputError) -> [String: [EvalBox]] {
        let records: [VectorRecord]
        do { records = try VectorReader.read(path: path) } catch {
            throw EvaluationInputError(description: "\(path): \(error.reason)")
        }
        var out: [String: [EvalBox]] = [:]
        var converters: [String: CoordinateTransformer] = [:]
        for image in images {
            guard let crs = image.crs, let gt = image.geoTransform, let transform = GeoTransform(gt) else { continue }
            let (w, h) = (Double(image.width), Double(image.height))
            for record in records {
                let source = record.crs ?? crs
                let points: [(x: Double, y: Double)]
                do {
                    if source == crs {
                        points = record.points
                    } else {
                        let key = source + "\u{1}" + crs
                        let converter = try converters[key] ?? CoordinateTransformer(from: source, to: crs)
                        converters[key] = converter
                        points = try converter.apply(record.points.map { ($0.x, $0.y) })
                    }
                } catch { continue }
                let pixels = points.map { transform.invert(x: $0.x, y: $0.y) }
                let xs = pixels.map(\.x)
                let ys = pixels.map(\.y)
                guard let x1 = xs.min(), let x2 = xs.max(), let y1 = ys.min(), let y2 = ys.max(), x2 > x1, y2 > y1,
                    [x1, x2, y1, y2].allSatisfy(\.isFinite)
                else { continue }
                let cx1 = max(0, x1)
                let cy1 = max(0, y1)
                let cx2 = min(w, x2)
                let cy2 = min(h, y2)
                guard cx2 > cx1, cy2 > cy1, (cx2 - cx1) * (cy2 - cy1) >= 0.5 * (x2 - x1) * (y2 - y1) else { continue }
                let label = ["label", "class", "name", "species", "category"].lazy.compactMap { record.attributes[$0] }.first ?? "object"
                out[image.name, default: []].append(EvalBox(x1: cx1, y1: cy1, x2: cx2, y2: cy2, label: label))
            }
        }
        return out
    }
}

/// Reads Pascal VOC: `<filename>` and each `<object>`'s `<name>` and `<bndbox>`.
private final class VOCReader: NSObject, XMLParserDelegate {
    var fileName: String?
    var boxes: [EvalBox] = []
    var problem: String?
    private var path: [String] = []
    private var text = ""
    private var name = ""
    private var values: [String: Double] = [:]

    func parser(
        _ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        path.append(element)
        text = ""
        if element == "object" {
            name = "object"
            values = [:]
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement element: String, namespaceURI: String?, qualifiedName: String?) {
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let parent = path.dropLast().last
        switch (element, parent) {
        case ("filename", "annotation"): fileName = value
        case ("name", "object"): name = value
        case ("xmin", "bndbox"), ("ymin", "bndbox"), ("xmax", "bndbox"), ("ymax", "bndbox"):
            if let v = Double(value), v.isFinite { values[element] = v } else { problem = "a <\(element)> that is not a number" }
        case ("object", _):
            if let x1 = values["xmin"], let y1 = values["ymin"], let x2 = values["xmax"], let y2 = values["ymax"] {
                boxes.append(EvalBox(x1: x1, y1: y1, x2: x2, y2: y2, label: name))
            } else {
                problem = "an <object> without a complete <bndbox>"
            }
        default: break
        }
        path.removeLast()
        text = ""
    }
}
