import Formats
public import Foundation
import GeoRaster

extension FileResult {
    /// The result as JSON: the document `JSONEncoder().encode(self)` writes (tested against it),
    /// its keys in the order of the properties, in a fraction of its time; each file's result is
    /// encoded once when its worker records it. Throws `EncodingError` for a number that is not
    /// finite, as `JSONEncoder` does.
    public func jsonData() throws(EncodingError) -> Data {
        var out = JSONOutput(capacity: 1024 + detections.count * 400)
        out.beginObject()
        out.field("path", path)
        out.key("info")
        try info.write(to: &out)
        out.field("sha256", sha256)
        out.field("sizeBytes", sizeBytes)
        out.key("detections")
        out.beginArray()
        for d in detections { try d.write(to: &out) }
        out.endArray()
        out.key("tiles")
        out.beginObject()
        out.field("planned", tiles.planned)
        out.field("skipped", tiles.skipped)
        out.field("run", tiles.run)
        out.endObject()
        out.key("timings")
        out.beginObject()
        try out.field("hash", timings.hash)
        try out.field("read", timings.read)
        try out.field("inference", timings.inference)
        try out.field("merge", timings.merge)
        try out.field("total", timings.total)
        out.endObject()
        try out.field("resampleFactor", resampleFactor)
        out.field("warnings", warnings)
        out.field("bytesRead", bytesRead)
        out.endObject()
        return out.data
    }
}

extension GeoDetection {
    fileprivate func write(to out: inout JSONOutput) throws(EncodingError) {
        out.beginObject()
        out.key("detection")
        out.beginObject()
        out.key("box")
        out.beginObject()
        try out.field("x1", detection.box.x1)
        try out.field("y1", detection.box.y1)
        try out.field("x2", detection.box.x2)
        try out.field("y2", detection.box.y2)
        out.endObject()
        out.key("score")
        try out.value(detection.score)
        out.field("classIndex", detection.classIndex)
        out.endObject()
        try out.field("crsBox", crsBox)
        if let wgs84Corners {
            out.key("wgs84Corners")
            out.beginArray()
            for corner in wgs84Corners {
                out.beginObject()
                try out.field("lon", corner.lon)
                try out.field("lat", corner.lat)
                out.endObject()
            }
            out.endArray()
        }
        out.endObject()
    }
}

extension RasterInfo {
    fileprivate func write(to out: inout JSONOutput) throws(EncodingError) {
        out.beginObject()
        out.field("fileName", fileName)
        out.field("driver", driver)
        out.field("width", width)
        out.field("height", height)
        out.field("bandCount", bandCount)
        out.field("dataType", dataType)
        out.key("nodata")
        out.beginArray()
        for value in nodata {
            if let value { try out.value(value) } else { out.null() }
        }
        out.endArray()
        out.field("crsWKT", crsWKT)
        out.field("epsg", epsg)
        out.field("isGeographic", isGeographic)
        try out.field("linearUnitMetres", linearUnitMetres)
        if let geoTransform {
            out.key("geoTransform")
            out.beginObject()
            try out.field("coefficients", geoTransform.coefficients)
            out.endObject()
        }
        try out.field("gsdMetres", gsdMetres)
        out.field("blockWidth", blockWidth)
        out.field("blockHeight", blockHeight)
        out.endObject()
    }
}
