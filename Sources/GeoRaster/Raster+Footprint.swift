public import Formats

extension Raster {
    /// This raster's footprint in WGS84; nil without georeferencing or when its CRS cannot be
    /// converted there.
    public func footprint() -> Footprint? {
        guard let transform = info.geoTransform, let converter = try? makeWGS84Transformer() else { return nil }
        return Footprint.of(
            width: info.width, height: info.height, pixelToMap: { transform.apply(x: $0, y: $1) },
            toWGS84: converter.toWGS84)
    }
}
