import Testing

@testable import Inference

@Suite struct TileReaderTests {
    @Test func nodataInsideTheModelRangePassesThrough() {
        // NEON 8-bit imagery declares 255 nodata: bright pixels must reach the model unchanged.
        #expect(TileReader.nodataToZero([255, 255, 255], scale: 1.0 / 255) == nil)
        #expect(TileReader.nodataToZero([0, 0, 0], scale: 1.0 / 255) == nil)
        #expect(TileReader.nodataToZero([nil, -9999, -9999], scale: 1.0 / 255) == nil)
        #expect(TileReader.nodataToZero([-9999, -9999, -9999], scale: 1.0 / 255) == [-9999, -9999, -9999])
        #expect(TileReader.nodataToZero([65535, 65535, 65535], scale: 1.0 / 255) == [65535, 65535, 65535])
    }

    @Test func onlyPixelsNodataInEveryChannelBecomeZero() {
        // Two channels of 2 × 2: pixel 0 nodata in both, pixel 1 in one channel only.
        var values: [Float] = [-9999, -9999, 5, 6, -9999, 7, -9999, 8]
        values.withUnsafeMutableBufferPointer { buf in
            TileReader.zeroNodata(buf, offset: 0, planeSize: 4, channels: 2, nodata: [-9999, -9999])
        }
        #expect(values == [0, -9999, 5, 6, 0, 7, -9999, 8])
    }
}
