import Configuration
import Foundation
import SystemPackage

/// The settings GeoInfer reads: the process environment, over a `.env` file in the working
/// directory (`GEOINFER_ENV_FILE` names another; set to empty, no file is read). A variable set
/// in the environment wins.
enum Environment {
    /// Every variable GeoInfer reads (all documented in the README).
    static let names = [
        "GEOINFER_MODEL", "GEOINFER_ORT_LIBRARY", "GEOINFER_HOST", "GEOINFER_PORT", "GEOINFER_DATA_DIR", "GEOINFER_WORKERS",
        "GEOINFER_THREADS", "GEOINFER_LEASE_SECONDS", "GEOINFER_MAX_ATTEMPTS", "GEOINFER_MAX_FILES", "GEOINFER_MAX_FILE_BYTES",
        "GEOINFER_MAX_REQUEST_BYTES", "GEOINFER_PUBLIC_URL", "GEOINFER_WEBHOOK_SECRET", "GEOINFER_WEBHOOK_ALLOWLIST",
        "GEOINFER_WEBHOOK_RETRY_SCHEDULE", "GEOINFER_WEBHOOK_TIMEOUT_SECONDS", "GEOINFER_WEBHOOK_PROGRESS_STEP",
        "GEOINFER_WEBHOOK_CONCURRENCY",
        "GEOINFER_MIN_FREE_BYTES", "GEOINFER_LOG_FORMAT", "GEOINFER_LOG_LEVEL", "GEOINFER_RATE_LIMIT", "GEOINFER_RATE_BURST",
        "GEOINFER_MAX_CONCURRENT_UPLOADS", "GEOINFER_REQUIRE_API_KEYS", "GEOINFER_API_KEY", "GEOINFER_SERVER", "API_BASE",
        "ENABLE_GCP_UPLOAD", "GCP_BUCKET_NAME", "GCP_BUCKET_REGION", "GCP_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS",
        "STORAGE_EMULATOR_HOST", "GEOINFER_GCS_ENDPOINT", "GEOINFER_GCS_CHUNK_BYTES", "GEOINFER_GCS_RETRY_SECONDS",
        "GEOINFER_MIRROR_CONCURRENCY",
        "GCE_METADATA_HOST", "CLOUDSDK_CONFIG", "DATABASE_URL", "GEOINFER_INPUT_BUCKETS", "WEBHOOK_SIGNING_SECRET",
        "GEOINFER_IDLE_TIMEOUT_SECONDS", "GEOINFER_MAX_CONNECTIONS", "GEOINFER_MAX_EVENT_STREAMS", "GEOINFER_MAX_EVENT_STREAMS_PER_KEY",
        "GEOINFER_QUICKLOOK_SIZE", "GEOINFER_LEAFLET_DIR", "GEOINFER_COG_IN_PLACE", "GEOINFER_MODEL_CACHE", "GEOINFER_URL_INPUTS",
        "GEOINFER_OUTPUT_BUCKETS",
    ]

    /// The merged settings; throws when the `.env` file is malformed (or missing when named explicitly).
    static func load() async throws -> [String: String] {
        let process = ProcessInfo.processInfo.environment
        if process["GEOINFER_ENV_FILE"] == "" { return process }
        let named = process["GEOINFER_ENV_FILE"]
        let path = named ?? ".env"
        let file: EnvironmentVariablesProvider
        do {
            file = try await EnvironmentVariablesProvider(environmentFilePath: FilePath(path), allowMissing: named == nil)
        } catch {
            throw EnvironmentError(description: "cannot read the settings file \(path): \(error)")
        }
        let reader = ConfigReader(providers: [EnvironmentVariablesProvider(environmentVariables: process), file])
        var out = process
        for name in names {
            if let value = reader.string(forKey: ConfigKey(name)) { out[name] = value }
        }
        return out
    }
}

struct EnvironmentError: Error, CustomStringConvertible {
    let description: String
}
