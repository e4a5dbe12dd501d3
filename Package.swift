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
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
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
        // glibc's mallopt, for the allocator tuning of long runs (see MemoryTuning.swift).
        .target(name: "CMalloc"),
        // libjpeg and libtiff (both come with libgdal-dev), for reduced reads of JPEG-compressed
        // TIFFs without GDAL's per-block overhead (see JPEGBlocks.swift).
        .target(
            name: "CJPEGTIFF",
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("tiff")]
        ),
        .target(
            name: "GeoRaster",
            dependencies: ["CGDAL", "CJPEGTIFF", "Formats"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Formats",
            swiftSettings: strictSettings
        ),
        // Pure geometry of a mosaic's results: the seam merge across files (no dependencies, no I/O).
        .target(
            name: "Mosaic",
            swiftSettings: strictSettings
        ),
        // Named points where tests pause, fail or crash a process (GEOINFER_FAILPOINTS); off unless set.
        .target(
            name: "Failpoints",
            swiftSettings: strictSettings
        ),
        .target(
            name: "Inference",
            dependencies: [
                "GeoRaster", "Formats", "Mosaic", "CONNXRuntime",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ],
            swiftSettings: strictSettings
        ),
        // The job core: records, states, transitions and the store's port; no I/O dependency.
        .target(
            name: "Jobs",
            dependencies: ["Formats"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "JobStoreSQLite",
            dependencies: [
                "Jobs", "Formats",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings
        ),
        // Long-lived work beside the API: the file runner, the mirror outbox worker, the start-up sweep.
        .target(
            name: "Workers",
            dependencies: [
                "Jobs", "Inference", "GeoRaster", "Formats", "Storage", "Failpoints",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "JobStorePostgres",
            dependencies: [
                "Jobs", "Formats",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Storage",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Webhooks",
            dependencies: [
                "Jobs", "Formats", "Failpoints",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Server",
            dependencies: [
                "Jobs", "JobStoreSQLite", "Workers", "Webhooks", "Storage", "JobStorePostgres", "Inference", "GeoRaster", "Formats",
                "Failpoints",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "geoinfer",
            dependencies: [
                "Inference", "GeoRaster", "Formats", "Jobs", "JobStoreSQLite", "Workers", "Server", "Webhooks", "Storage",
                "JobStorePostgres",
                "Failpoints", "CMalloc",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "GeoInferTestSupport",
            dependencies: ["GeoRaster", "CGDAL", "Jobs"],
            path: "Tests/GeoInferTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GeoRasterTests",
            dependencies: ["GeoRaster", "GeoInferTestSupport", "Formats"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Jobs", "JobStoreSQLite", "Workers", "Webhooks", "Storage", "Inference", "Formats", "GeoRaster",
                "GeoInferTestSupport",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "JobStoreTests",
            dependencies: [
                "Jobs", "JobStoreSQLite", "JobStorePostgres", "Workers", "GeoInferTestSupport", "Storage", "Formats",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "StorageTests",
            dependencies: ["Storage", "GeoInferTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "WebhooksTests",
            dependencies: ["Webhooks", "Jobs", "JobStoreSQLite", "Formats"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "InferenceTests",
            dependencies: ["Inference", "GeoRaster", "Formats", "Mosaic", "GeoInferTestSupport"],
            swiftSettings: strictSettings
        ),
    ]
)
