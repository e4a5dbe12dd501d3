import Inference

/// `GET /` for clients that do not ask for HTML: the original prototype's index (`message`,
/// `version`, `endpoints`), with where the OpenAPI document and the dashboard are.
struct RootIndex: Encodable, Sendable {
    let message: String
    let version: String
    let endpoints: [String: String]
    let openapi: String
    let dashboard: String

    static let current = RootIndex(
        message: "GeoInfer: batch object detection over GeoTIFFs",
        version: GeoInferVersion.current,
        endpoints: [
            "upload": "POST /upload (multipart files; 200) or POST /jobs (multipart files or JSON gs:// inputs; 202)",
            "status": "GET /status/{job_id}",
            "jobs": "GET /jobs, GET /jobs/{job_id}, DELETE /jobs/{job_id}",
            "events": "GET /jobs/{job_id}/events",
            "results":
                "GET /results/{job_id}/coco.json, /detections.geojson, /metadata.json, /footprints.geojson, /quicklooks/{file}.jpg, /thumbnails/{file}.jpg",
            "keys": "POST /keys, GET /keys, DELETE /keys/{key_id}",
            "health": "GET /healthz, GET /readyz, GET /metrics",
        ],
        openapi: "/openapi.json",
        dashboard: "/ (with Accept: text/html; /?job={job_id} opens a job on the map)")
}
