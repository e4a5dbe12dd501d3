// swift-tools-version: 6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "GeoInfer",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "geoinfer", targets: ["geoinfer"]),
        .library(name: "Inference", targets: ["Inference"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
    ],
    targets: [
        // GDAL's C API from the system package (libgdal-dev), found through pkg-config.
        .systemLibrary(
            name: "CGDAL",
            pkgConfig: "gdal",
            providers: [.apt(["libgdal-dev"])]
        ),
        // ONNX Runtime's C API. The library is opened at run time (dlopen), so one build can use
        // the CPU library or a GPU build; the header comes from scripts/setup.sh.
        .target(
            name: "CONNXRuntime",
            linkerSettings: [.linkedLibrary("dl")]
        ),
        .target(
            name: "GeoRaster",
            dependencies: ["CGDAL"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Formats",
            swiftSettings: strictSettings
        ),
        .target(
            name: "Inference",
            dependencies: [
                "GeoRaster", "Formats", "CONNXRuntime",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "geoinfer",
            dependencies: [
                "Inference", "GeoRaster", "Formats",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "GeoInferTestSupport",
            dependencies: ["GeoRaster", "CGDAL"],
            path: "Tests/GeoInferTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GeoRasterTests",
            dependencies: ["GeoRaster", "GeoInferTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "InferenceTests",
            dependencies: ["Inference", "GeoRaster", "Formats", "GeoInferTestSupport"],
            swiftSettings: strictSettings
        ),
    ]
)
