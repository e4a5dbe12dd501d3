internal import CGDAL
import Foundation

/// A polygon with attributes, for a GIS layer.
public struct VectorFeature: Sendable {
    /// The exterior ring's corners in the layer's CRS (closed by the writer).
    public var ring: [(x: Double, y: Double)]
    /// Values by field name; a layer field missing here is written as null, a name that is not a layer field is ignored.
    public var attributes: [String: VectorValue]

    /// A feature with exterior ring `ring` (in the layer's CRS, need not be closed) and `attributes` by field name.
    public init(ring: [(x: Double, y: Double)], attributes: [String: VectorValue]) {
        self.ring = ring
        self.attributes = attributes
    }
}

/// An attribute value: a number, a whole number or text.
public enum VectorValue: Sendable, Equatable {
    case real(Double)
    case integer(Int)
    case text(String)
}

/// A layer to write: its name, its fields in order (name and kind, taken from the values), and
/// its features.
public struct VectorLayer: Sendable {
    /// The layer's name as written to the file.
    public var name: String
    /// The fields in column order: each a name and a sample value whose case (not its payload) sets the field's type.
    public var fields: [(name: String, kind: VectorValue)]
    /// The polygons to write, in order.
    public var features: [VectorFeature]

    /// A layer named `name` with `fields` (each a name and a sample value of its kind) and `features`.
    public init(name: String, fields: [(name: String, kind: VectorValue)], features: [VectorFeature]) {
        self.name = name
        self.fields = fields
        self.features = features
    }
}

/// Writes polygon layers with OGR: GeoPackage (all layers in one file) or FlatGeobuf (one layer
/// per file), in one CRS. Files are written beside the target and renamed into place, so a reader
/// never sees half a file.
public enum VectorWriter {
    /// The OGR driver, by its GDAL name: GeoPackage (any number of layers in one file) or FlatGeobuf (exactly one).
    public enum Driver: String, Sendable {
        case geoPackage = "GPKG"
        case flatGeobuf = "FlatGeobuf"
    }

    /// Writes `layers` to `path` in `crs` (`EPSG:n` or WKT; nil: no CRS). FlatGeobuf takes exactly one layer.
    public static func write(path: String, driver: Driver, crs: String?, layers: [VectorLayer]) throws(RasterError) {
        let name = (path as NSString).lastPathComponent
        guard driver == .geoPackage || layers.count == 1 else {
            throw .init(.invalidArgument, file: name, reason: "FlatGeobuf holds one layer per file", remedy: "Write one file per layer.")
        }
        GDAL.register()
        let srs: SpatialReference?
        do { srs = try crs.map { try SpatialReference(definition: $0) } } catch {
            throw .init(.invalidArgument, file: name, reason: "unknown CRS for the layers", remedy: "Give the CRS as EPSG:n.")
        }
        if let srs { OSRSetAxisMappingStrategy(srs.handle, OAMS_TRADITIONAL_GIS_ORDER) }
        // The partial file keeps the extension: FlatGeobuf makes a folder of a name without one.
        let ext = (path as NSString).pathExtension
        let partial = (path as NSString).deletingPathExtension + ".partial" + (ext.isEmpty ? "" : "." + ext)
        try? FileManager.default.removeItem(atPath: partial)
        guard let gdalDriver = GDALGetDriverByName(driver.rawValue) else {
            throw .writeFailed(name, "GDAL has no \(driver.rawValue) driver")
        }
        let (created, createError) = GDAL.call { GDALCreate(gdalDriver, partial, 0, 0, 0, GDT_Unknown, nil) }
        guard let ds = created else { throw .writeFailed(name, createError ?? "cannot create") }
        var closed = false
        defer {
            if !closed { GDALClose(ds) }
            try? FileManager.default.removeItem(atPath: partial)
        }
        for layer in layers {
            try write(layer, to: ds, srs: srs?.handle, file: name)
        }
        let closeError = GDAL.call { GDALClose(ds) }.error
        closed = true
        if let closeError { throw .writeFailed(name, closeError) }
        do {
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: partial, toPath: path)
        } catch {
            throw .writeFailed(name, "\(error)")
        }
    }

    private static func write(_ layer: VectorLayer, to ds: GDALDatasetH, srs: OGRSpatialReferenceH?, file: String) throws(RasterError) {
        let (created, error) = GDAL.call { GDALDatasetCreateLayer(ds, layer.name, srs, wkbPolygon, nil) }
        guard let l = created else { throw .writeFailed(file, error ?? "cannot create layer \(layer.name)") }
        for field in layer.fields {
            let type: OGRFieldType =
                switch field.kind {
                case .real: OFTReal
                case .integer: OFTInteger64
                case .text: OFTString
                }
            guard let definition = OGR_Fld_Create(field.name, type) else { throw .writeFailed(file, "cannot define field \(field.name)") }
            defer { OGR_Fld_Destroy(definition) }
            guard OGR_L_CreateField(l, definition, 1) == OGRERR_NONE else { throw .writeFailed(file, "cannot create field \(field.name)") }
        }
        guard let layerDefinition = OGR_L_GetLayerDefn(l) else { throw .writeFailed(file, "layer \(layer.name) has no definition") }
        let indices = layer.fields.map { OGR_FD_GetFieldIndex(layerDefinition, $0.name) }
        _ = OGR_L_StartTransaction(l)
        for feature in layer.features {
            guard let f = OGR_F_Create(layerDefinition) else { throw .writeFailed(file, "cannot create a feature") }
            defer { OGR_F_Destroy(f) }
            for (i, field) in layer.fields.enumerated() {
                switch feature.attributes[field.name] {
                case .real(let v)?: OGR_F_SetFieldDouble(f, indices[i], v)
                case .integer(let v)?: OGR_F_SetFieldInteger64(f, indices[i], GIntBig(v))
                case .text(let v)?: OGR_F_SetFieldString(f, indices[i], v)
                case nil: OGR_F_SetFieldNull(f, indices[i])
                }
            }
            if let polygon = OGR_G_CreateGeometry(wkbPolygon), let ring = OGR_G_CreateGeometry(wkbLinearRing) {
                for p in feature.ring { OGR_G_AddPoint_2D(ring, p.x, p.y) }
                if let first = feature.ring.first { OGR_G_AddPoint_2D(ring, first.x, first.y) }
                _ = OGR_G_AddGeometryDirectly(polygon, ring)
                _ = OGR_F_SetGeometryDirectly(f, polygon)
            }
            let (status, error) = GDAL.call { OGR_L_CreateFeature(l, f) }
            guard status == OGRERR_NONE else { throw .writeFailed(file, error ?? "cannot write a feature") }
        }
        _ = OGR_L_CommitTransaction(l)
    }
}

/// One feature read from a vector file: its outline's points in the layer's CRS, its CRS, and
/// its attributes as text.
public struct VectorRecord: Sendable {
    /// Every vertex of the feature's geometry (all parts and rings) in the layer's CRS; never empty.
    public var points: [(x: Double, y: Double)]
    /// The layer's CRS as WKT (nil when the layer has none).
    public var crs: String?
    /// The feature's set, non-null fields as text by field name; unset and null fields are absent.
    public var attributes: [String: String]
}

/// Reads the geometries (every vertex of every part and ring) of every layer of a vector
/// file GDAL opens: GeoJSON, GeoPackage, Shapefile, FlatGeobuf. At most `limit` features.
public enum VectorReader {
    /// Reads the features with points from every layer of `path`, in file order. Throws ``RasterError`` when the file is
    /// missing, GDAL cannot open it as vector data, or it has more than `limit` such features.
    public static func read(path: String, limit: Int = 10_000_000) throws(RasterError) -> [VectorRecord] {
        let name = (path as NSString).lastPathComponent
        guard FileManager.default.fileExists(atPath: path) else { throw .notFound(name) }
        GDAL.register()
        let flags = UInt32(GDAL_OF_VECTOR) | UInt32(GDAL_OF_READONLY)
        let (opened, error) = GDAL.call { GDALOpenEx(path, flags, nil, nil, nil) }
        guard let ds = opened else {
            throw .init(
                .notARaster, file: name, reason: "not a vector file GDAL can read" + (error.map { " (\($0))" } ?? ""),
                remedy: "Give GeoJSON, GeoPackage, Shapefile or FlatGeobuf.")
        }
        defer { GDALClose(ds) }
        var records: [VectorRecord] = []
        for l in 0..<GDALDatasetGetLayerCount(ds) {
            guard let layer = GDALDatasetGetLayer(ds, l), let definition = OGR_L_GetLayerDefn(layer) else { continue }
            var crs: String?
            if let srs = OGR_L_GetSpatialRef(layer) {
                var wkt: UnsafeMutablePointer<CChar>?
                if OSRExportToWkt(srs, &wkt) == OGRERR_NONE, let wkt {
                    crs = String(cString: wkt)
                    geo_cpl_free(wkt)
                }
            }
            let fields = (0..<OGR_FD_GetFieldCount(definition)).compactMap { i -> (Int32, String)? in
                guard let f = OGR_FD_GetFieldDefn(definition, i), let n = OGR_Fld_GetNameRef(f) else { return nil }
                return (i, String(cString: n))
            }
            OGR_L_ResetReading(layer)
            while let feature = OGR_L_GetNextFeature(layer) {
                defer { OGR_F_Destroy(feature) }
                guard records.count < limit else {
                    throw .init(.tooLarge, file: name, reason: "more than \(limit) features", remedy: "Split the file.")
                }
                guard let geometry = OGR_F_GetGeometryRef(feature) else { continue }
                var points: [(x: Double, y: Double)] = []
                collect(geometry, into: &points)
                guard !points.isEmpty else { continue }
                var attributes: [String: String] = [:]
                for (i, fieldName) in fields where OGR_F_IsFieldSetAndNotNull(feature, i) != 0 {
                    if let text = OGR_F_GetFieldAsString(feature, i) { attributes[fieldName] = String(cString: text) }
                }
                records.append(VectorRecord(points: points, crs: crs, attributes: attributes))
            }
        }
        return records
    }

    /// Every vertex of a geometry, of all its parts and rings (a box reprojected stays exact).
    private static func collect(_ geometry: OGRGeometryH, into points: inout [(x: Double, y: Double)]) {
        let parts = OGR_G_GetGeometryCount(geometry)
        if parts > 0 {
            for i in 0..<parts {
                if let part = OGR_G_GetGeometryRef(geometry, i) { collect(part, into: &points) }
            }
            return
        }
        for i in 0..<OGR_G_GetPointCount(geometry) {
            points.append((x: OGR_G_GetX(geometry, i), y: OGR_G_GetY(geometry, i)))
        }
    }
}
