/// The OpenAPI 3.1 description of every route, served at `/openapi.json`.
enum OpenAPIDocument {
    static let json = #"""
        {
          "openapi": "3.1.0",
          "info": {"title": "GeoInfer", "version": "0.1.0",
                   "description": "Batch object detection over GeoTIFFs: upload rasters as a job, follow its progress, download georeferenced results."},
          "paths": {
            "/upload": {
              "post": {
                "operationId": "upload",
                "summary": "Create a job from uploaded GeoTIFFs (the original prototype's route: answers 200; new clients use POST /jobs, 202)",
                "parameters": [
                  {"name": "webhook_url", "in": "query", "required": false, "schema": {"type": "string"}},
                  {"name": "model", "in": "query", "required": false, "schema": {"type": "string"}},
                  {"name": "score_threshold", "in": "query", "required": false, "schema": {"type": "string"}},
                  {"name": "overlap", "in": "query", "required": false, "schema": {"type": "string"}},
                  {"name": "formats", "in": "query", "required": false, "schema": {"type": "string"}},
                  {"name": "out_crs", "in": "query", "required": false, "schema": {"type": "string"}},
                  {"name": "output_prefix", "in": "query", "required": false, "schema": {"type": "string"}},
                  {"name": "nms", "in": "query", "required": false, "schema": {"type": "string"}},
                  {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "minLength": 1, "maxLength": 200}}
                ],
                "requestBody": {
                  "required": true,
                  "content": {"multipart/form-data": {"schema": {
                    "type": "object",
                    "properties": {
                      "files": {"type": "array", "items": {"type": "string", "contentMediaType": "image/tiff"}},
                      "ground_truth": {"type": "string", "contentMediaType": "application/octet-stream", "description": "Labels to score the results against when the job ends, as geoinfer evaluate reads them: DeepForest CSV, Pascal VOC XML, COCO JSON, GeoJSON, GeoPackage or FlatGeobuf (at most 64 MiB); the scores go in metadata.json (evaluation)"},
                      "webhook_url": {"type": "string", "description": "http(s) URL to notify when the job ends; must resolve to a public address"},
                      "webhook_secret": {"type": "string", "description": "This job's own whsec_ signing secret (default: the server's)"},
                      "model": {"type": "string", "description": "name or name@version of a model GET /models lists (default: the server's default model; a name alone: its highest version)"},
                      "score_threshold": {"type": "string"}, "overlap": {"type": "string"},
                      "formats": {"type": "string", "description": "Comma-separated result formats: coco, geojson, gpkg, fgb (default coco,geojson)"}, "out_crs": {"type": "string", "description": "CRS of the GeoPackage and FlatGeobuf layers, as EPSG:n (default: most rasters' CRS)"}, "output_prefix": {"type": "string", "description": "gs://bucket/prefix/ where the result documents are also written, in a bucket listed in GEOINFER_OUTPUT_BUCKETS"}, "nms": {"type": "string", "description": "iou (default) or ios: how overlapping boxes are measured when suppressed, within a file and across files"}
                    },
                    "required": ["files"]
                  }}}
                },
                "responses": {
                  "200": {"description": "Accepted and durable", "headers": {"Location": {"schema": {"type": "string"}}},
                          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "413": {"$ref": "#/components/responses/Error"},
                  "415": {"$ref": "#/components/responses/Error"},
                  "422": {"$ref": "#/components/responses/Error"},
                  "500": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/status/{job_id}": {
              "get": {
                "operationId": "status",
                "parameters": [{"$ref": "#/components/parameters/JobID"}],
                "responses": {
                  "200": {"description": "The job's status", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},

                  "404": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/jobs": {
              "get": {
                "operationId": "listJobs",
                "parameters": [
                  {"name": "status", "in": "query", "required": false,
                   "schema": {"type": "string", "enum": ["queued", "running", "completed", "completed_with_errors", "failed", "cancelled"]}},
                  {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                  {"name": "cursor", "in": "query", "required": false, "schema": {"type": "string"}}
                ],
                "responses": {
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},

                  "404": {"$ref": "#/components/responses/Error"},
                  "200": {"description": "Jobs, newest first", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["jobs", "next_cursor"],
                    "properties": {"jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Status"}},
                                   "next_cursor": {"type": ["string", "null"]}}}}}},
                  "400": {"$ref": "#/components/responses/Error"}
                }
              },
              "post": {
                "operationId": "createBucketJob",
                "summary": "Create a job: GeoTIFFs uploaded as multipart/form-data (as POST /upload, answered 202), or already in a bucket (JSON)",
                "description": "Each input is the gs:// URI of an object, or of a prefix ending in '/' that expands to its .tif/.tiff objects. Workers read the rasters from the bucket; nothing is uploaded. A key reads only the buckets in GEOINFER_INPUT_BUCKETS (403 otherwise); the mirror bucket only admin keys. An input may also be the http(s) URL of a Cloud Optimized GeoTIFF under a prefix the operator lists in GEOINFER_URL_INPUTS whose host resolves to a public address (403 otherwise); it must answer range requests without redirects (400 otherwise) and is read in place.",
                "parameters": [
                  {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "minLength": 1, "maxLength": 200}}
                ],
                "requestBody": {
                  "required": true,
                  "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {
                      "stac": {"type": "object", "required": ["asset"], "description": "A STAC Item or ItemCollection whose items' asset (by key) become inputs, each named after its item: by url (under GEOINFER_URL_INPUTS) or inline as document",
                               "properties": {"url": {"type": "string"}, "document": {"type": "object"}, "asset": {"type": "string"}}},
                      "inputs": {"type": "array", "items": {"type": "string", "description": "gs://bucket/object.tif, gs://bucket/prefix/, or an http(s) URL of a Cloud Optimized GeoTIFF under a prefix listed in GEOINFER_URL_INPUTS"}},
                      "ground_truth": {"type": "string", "description": "gs:// URI of labels to score the results against when the job ends (.csv, .xml, .json, .geojson, .gpkg or .fgb, at most 64 MiB, in a bucket the key may read); the scores go in metadata.json (evaluation)"},
                      "webhook_url": {"type": "string"}, "webhook_secret": {"type": "string"}, "model": {"type": "string", "description": "name or name@version of a model GET /models lists (default: the server's default model; a name alone: its highest version)"},
                      "score_threshold": {"type": "number"}, "overlap": {"type": "number"},
                      "formats": {"type": "string", "description": "Comma-separated result formats: coco, geojson, gpkg, fgb (default coco,geojson)"}, "out_crs": {"type": "string", "description": "CRS of the GeoPackage and FlatGeobuf layers, as EPSG:n (default: most rasters' CRS)"}, "output_prefix": {"type": "string", "description": "gs://bucket/prefix/ where the result documents are also written, in a bucket listed in GEOINFER_OUTPUT_BUCKETS"}, "nms": {"type": "string", "description": "iou (default) or ios: how overlapping boxes are measured when suppressed, within a file and across files"}
                    }
                  }},
                  "multipart/form-data": {"schema": {
                    "type": "object",
                    "properties": {
                      "files": {"type": "array", "items": {"type": "string", "contentMediaType": "image/tiff"}},
                      "ground_truth": {"type": "string", "contentMediaType": "application/octet-stream", "description": "Labels to score the results against when the job ends, as geoinfer evaluate reads them: DeepForest CSV, Pascal VOC XML, COCO JSON, GeoJSON, GeoPackage or FlatGeobuf (at most 64 MiB); the scores go in metadata.json (evaluation)"},
                      "webhook_url": {"type": "string"}, "webhook_secret": {"type": "string"}, "model": {"type": "string", "description": "name or name@version of a model GET /models lists (default: the server's default model; a name alone: its highest version)"},
                      "score_threshold": {"type": "string"}, "overlap": {"type": "string"},
                      "formats": {"type": "string", "description": "Comma-separated result formats: coco, geojson, gpkg, fgb (default coco,geojson)"}, "out_crs": {"type": "string", "description": "CRS of the GeoPackage and FlatGeobuf layers, as EPSG:n (default: most rasters' CRS)"}, "output_prefix": {"type": "string", "description": "gs://bucket/prefix/ where the result documents are also written, in a bucket listed in GEOINFER_OUTPUT_BUCKETS"}, "nms": {"type": "string", "description": "iou (default) or ios: how overlapping boxes are measured when suppressed, within a file and across files"}
                    },
                    "required": ["files"]
                  }}}
                },
                "responses": {
                  "202": {"description": "Accepted and durable", "headers": {"Location": {"schema": {"type": "string"}}},
                          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "413": {"$ref": "#/components/responses/Error"},
                  "415": {"$ref": "#/components/responses/Error"},
                  "422": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/jobs/{job_id}": {
              "get": {
                "operationId": "getJob",
                "parameters": [{"$ref": "#/components/parameters/JobID"}],
                "responses": {
                  "200": {"description": "The job with its files", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobDetail"}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},

                  "404": {"$ref": "#/components/responses/Error"}
                }
              },
              "delete": {
                "operationId": "cancelJob",
                "parameters": [{"$ref": "#/components/parameters/JobID"}],
                "responses": {
                  "200": {"description": "Cancelled", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},

                  "404": {"$ref": "#/components/responses/Error"},
                  "409": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/jobs/{job_id}/retry": {
              "post": {
                "operationId": "retryJob",
                "parameters": [{"$ref": "#/components/parameters/JobID"}],
                "responses": {
                  "202": {"description": "Failed files queued again", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},

                  "404": {"$ref": "#/components/responses/Error"},
                  "409": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/jobs/{job_id}/webhook/redeliver": {
              "post": {
                "operationId": "redeliverWebhook",
                "description": "Sends the job's latest webhook event again, now, with the same webhook-id and a fresh retry schedule.",
                "parameters": [{"$ref": "#/components/parameters/JobID"}],
                "responses": {
                  "202": {"description": "Queued for delivery", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Delivery"}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},

                  "404": {"$ref": "#/components/responses/Error"},
                  "409": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/jobs/{job_id}/events": {
              "get": {
                "operationId": "jobEvents",
                "description": "Server-sent events: `progress` (a Status), `state` (name, status, and quicklook and thumbnail URLs once the file has succeeded: every file's when the stream starts, then each change), `file` (name, status, error, detections, when a file finishes), `done` (final Status, then the stream ends).",
                "parameters": [{"$ref": "#/components/parameters/JobID"}],
                "responses": {
                  "200": {"description": "Event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},

                  "404": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/results/{job_id}/coco.json": {
              "get": {
                "operationId": "resultsCOCO",
                "parameters": [{"$ref": "#/components/parameters/JobID"}],
                "responses": {
                  "200": {"description": "COCO document of the job", "content": {"application/json": {"schema": {"type": "object"}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},

                  "404": {"$ref": "#/components/responses/Error"},
                  "409": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/results/{job_id}/detections.geojson": {
              "get": {
                "operationId": "resultsGeoJSON",
                "parameters": [{"$ref": "#/components/parameters/JobID"}],
                "responses": {
                  "200": {"description": "GeoJSON FeatureCollection (WGS84)", "content": {"application/geo+json": {"schema": {"type": "object"}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},

                  "404": {"$ref": "#/components/responses/Error"},
                  "409": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/results/{job_id}/metadata.json": {
              "get": {
                "operationId": "resultsMetadata",
                "parameters": [{"$ref": "#/components/parameters/JobID"}],
                "responses": {
                  "200": {"description": "Audit metadata", "content": {"application/json": {"schema": {"type": "object"}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},

                  "404": {"$ref": "#/components/responses/Error"},
                  "409": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/results/{job_id}/detections_merged.geojson": {
              "get": {
                "operationId": "resultsMergedGeoJSON",
                "parameters": [{"$ref": "#/components/parameters/JobID"}],
                "responses": {
                  "200": {"description": "The detections merged across files: one box per object however the mosaic was cut (GeoJSON, WGS84)", "content": {"application/geo+json": {"schema": {}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "409": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/results/{job_id}/detections.gpkg": {
              "get": {
                "operationId": "resultsGeoPackage",
                "parameters": [{"$ref": "#/components/parameters/JobID"}],
                "responses": {
                  "200": {"description": "GeoPackage with the layers detections_merged and detections (score, class, file, job, model), in out_crs or the rasters' CRS", "content": {"application/geopackage+sqlite3": {"schema": {}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "409": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/results/{job_id}/detections.fgb": {
              "get": {
                "operationId": "resultsFlatGeobuf",
                "parameters": [{"$ref": "#/components/parameters/JobID"}],
                "responses": {
                  "200": {"description": "FlatGeobuf of every file's detections", "content": {"application/vnd.flatgeobuf": {"schema": {}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "409": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/results/{job_id}/detections_merged.fgb": {
              "get": {
                "operationId": "resultsMergedFlatGeobuf",
                "parameters": [{"$ref": "#/components/parameters/JobID"}],
                "responses": {
                  "200": {"description": "FlatGeobuf of the merged detections", "content": {"application/vnd.flatgeobuf": {"schema": {}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "409": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/results/{job_id}/quicklooks/{file}": {
              "get": {
                "operationId": "quicklook",
                "description": "A small JPEG (at most 512 px on its longer side by default, never larger than the file) of one of the job's files with its detections drawn; `file` is the file's name followed by `.jpg`.",
                "parameters": [{"$ref": "#/components/parameters/JobID"},
                               {"name": "file", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                  "200": {"description": "The quicklook", "content": {"image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}}}},
                  "401": {"$ref": "#/components/responses/Error"},

                  "429": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/results/{job_id}/thumbnails/{file}": {
              "get": {
                "operationId": "thumbnail",
                "description": "The quicklook's thumbnail: at most 128 px on its longer side, without boxes (the dashboard's map shows these for files seen from far away); `file` is the file's name followed by `.jpg`.",
                "parameters": [{"$ref": "#/components/parameters/JobID"},
                               {"name": "file", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                  "200": {"description": "The thumbnail", "content": {"image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/results/{job_id}/footprints.geojson": {
              "get": {
                "operationId": "footprints",
                "description": "Where the job's files lie: a GeoJSON FeatureCollection (WGS84) with one Polygon per georeferenced file (its four corners, and `bbox` over its edges), and its name, status, detections and quicklook URL. Live at every stage of the job; files without georeferencing are left out.",
                "parameters": [{"$ref": "#/components/parameters/JobID"}],
                "responses": {
                  "200": {"description": "The footprints", "content": {"application/geo+json": {"schema": {"type": "object", "required": ["type", "features"],
                    "properties": {"type": {"type": "string", "enum": ["FeatureCollection"]}, "features": {"type": "array", "items": {"type": "object",
                      "required": ["type", "bbox", "geometry", "properties"],
                      "properties": {"type": {"type": "string"}, "bbox": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
                                     "geometry": {"$ref": "#/components/schemas/Polygon"},
                                     "properties": {"type": "object", "required": ["name", "status", "detections", "corners"],
                                       "properties": {"name": {"type": "string"}, "status": {"type": "string"}, "detections": {"type": "integer"},
                                                      "quicklook": {"type": ["string", "null"]}, "thumbnail": {"type": ["string", "null"]},
                                                      "error": {"type": ["string", "null"]},
                                                      "corners": {"type": "array", "description": "[lon, lat] of the top-left, top-right, bottom-right and bottom-left pixel corners",
                                                                  "items": {"type": "array", "items": {"type": "number"}}}}}}}}}}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/assets/leaflet/{file}": {
              "get": {
                "operationId": "mapLibrary",
                "description": "Leaflet, for the dashboard's map, from the server's libjs-leaflet package. No key needed. 404 (saying why) when the server has no Leaflet.",
                "parameters": [{"name": "file", "in": "path", "required": true, "schema": {"type": "string", "enum": ["leaflet.js", "leaflet.css"]}}],
                "responses": {
                  "200": {"description": "The file", "content": {"text/javascript": {"schema": {"type": "string"}}, "text/css": {"schema": {"type": "string"}}}},
                  "404": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/assets/leaflet/images/{file}": {
              "get": {
                "operationId": "mapLibraryImage",
                "description": "Leaflet's control and marker images.",
                "parameters": [{"name": "file", "in": "path", "required": true,
                                "schema": {"type": "string", "enum": ["layers.png", "layers-2x.png", "marker-icon.png", "marker-icon-2x.png", "marker-shadow.png"]}}],
                "responses": {
                  "200": {"description": "The image", "content": {"image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}}}},
                  "404": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/": {
              "get": {"operationId": "index", "description": "With Accept: text/html (a browser), the web dashboard; otherwise a JSON index in the original prototype's shape (message, version, endpoints) with where this document and the dashboard are.",
                      "responses": {"200": {"description": "The page, or the index", "content": {
                        "text/html": {"schema": {"type": "string"}},
                        "application/json": {"schema": {"type": "object", "required": ["message", "version", "endpoints"],
                          "properties": {"message": {"type": "string"}, "version": {"type": "string"},
                                         "endpoints": {"type": "object", "additionalProperties": {"type": "string"}},
                                         "openapi": {"type": "string"}, "dashboard": {"type": "string"}}}}}}}}
            },
            "/healthz": {
              "get": {"operationId": "health", "description": "Liveness: 200 while the process serves requests.",
                      "responses": {"200": {"description": "Alive", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}}}}}}}
            },
            "/readyz": {
              "get": {"operationId": "ready", "description": "Readiness: the job store answers, the model is loaded, the data directory has room.",
                      "responses": {
                        "200": {"description": "Ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}},
                        "503": {"description": "Not ready; the failing checks say why", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}}}}
            },
            "/metrics": {
              "get": {"operationId": "metrics", "description": "Prometheus text exposition.",
                      "responses": {"200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                                    "503": {"$ref": "#/components/responses/Error"}}}
            },
            "/keys": {
              "post": {
                "operationId": "keyCreate",
                "description": "Make an API key (admin keys, or the local operator where no key is required). The key is in this answer only.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                  "type": "object", "required": ["name"],
                  "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100}, "admin": {"type": ["boolean", "null"]},
                                 "max_files": {"type": ["integer", "null"], "minimum": 1}, "max_file_bytes": {"type": ["integer", "null"], "minimum": 1},
                                 "max_request_bytes": {"type": ["integer", "null"], "minimum": 1}}}}}},
                "responses": {
                  "201": {"description": "The new key, shown once", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Key"}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "413": {"$ref": "#/components/responses/Error"},
                  "415": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              },
              "get": {
                "operationId": "keyList",
                "description": "Every key, revoked ones included, without secrets (admin keys, or the local operator).",
                "responses": {
                  "200": {"description": "The keys", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["keys"], "properties": {"keys": {"type": "array", "items": {"$ref": "#/components/schemas/Key"}}}}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/keys/{key_id}": {
              "delete": {
                "operationId": "keyRevoke",
                "description": "Revoke a key: it stops working at once.",
                "parameters": [{"name": "key_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                  "200": {"description": "The revoked key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Key"}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/models": {
              "get": {
                "operationId": "modelList",
                "description": "The models a job may name in its model field: the server's default and every registered version (geoinfer models add).",
                "responses": {
                  "200": {"description": "The models", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["models"], "properties": {"models": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}}}}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/models/{name}": {
              "get": {
                "operationId": "modelGet",
                "description": "Every version of one model.",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {
                  "200": {"description": "The model's versions", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["name", "versions"],
                    "properties": {"name": {"type": "string"}, "versions": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}}}}}}},
                  "401": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/Error"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/openapi.json": {
              "get": {"operationId": "openapi", "responses": {"200": {"description": "This document", "content": {"application/json": {"schema": {"type": "object"}}}}}}
            }
          },
          "security": [{}, {"bearer": []}],
          "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "API key (geoinfer keys create); required unless the server listens on loopback"}},
            "parameters": {
              "JobID": {"name": "job_id", "in": "path", "required": true, "schema": {"type": "string"}}
            },
            "responses": {
              "Error": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            },
            "schemas": {
              "Polygon": {"type": "object", "required": ["type", "coordinates"],
                "description": "A GeoJSON Polygon in WGS84 (lon, lat): one closed, counter-clockwise ring",
                "properties": {"type": {"type": "string", "enum": ["Polygon"]},
                               "coordinates": {"type": "array", "items": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}}}},
              "Scores": {
                "type": "object", "required": ["ground_truth", "predictions", "matches"],
                "properties": {"ground_truth": {"type": "integer"}, "predictions": {"type": "integer"},
                               "ap": {"type": ["number", "null"]}, "ap50": {"type": ["number", "null"]},
                               "matches": {"type": "array", "items": {"type": "object",
                                 "required": ["iou_threshold", "true_positives", "precision", "recall", "f1"],
                                 "properties": {"iou_threshold": {"type": "number"}, "true_positives": {"type": "integer"},
                                                "precision": {"type": "number"}, "recall": {"type": "number"}, "f1": {"type": "number"}}}}}
              },
              "Model": {
                "type": "object",
                "required": ["name", "version", "reference", "sha256", "default", "classes", "input_width", "input_height"],
                "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                               "reference": {"type": "string", "description": "name@version, as a job names it"},
                               "sha256": {"type": "string"}, "default": {"type": "boolean", "description": "What a job without model runs"},
                               "classes": {"type": "array", "items": {"type": "string"}}, "gsd_m": {"type": ["number", "null"]},
                               "input_width": {"type": "integer"}, "input_height": {"type": "integer"},
                               "score_threshold": {"type": ["number", "null"]}, "iou_threshold": {"type": ["number", "null"]},
                               "description": {"type": ["string", "null"]}, "size_bytes": {"type": ["integer", "null"]},
                               "added_at": {"type": ["string", "null"], "format": "date-time"},
                               "metrics": {"oneOf": [{"$ref": "#/components/schemas/Scores"}, {"type": "null"}],
                                           "description": "Pooled scores on the validation data it was registered with (geoinfer evaluate)"}}
              },
              "Key": {
                "type": "object", "required": ["id", "name", "scope", "prefix", "created_at"],
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "scope": {"type": "string", "enum": ["user", "admin"]},
                               "prefix": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
                               "revoked_at": {"type": ["string", "null"], "format": "date-time"},
                               "max_files": {"type": ["integer", "null"]}, "max_file_bytes": {"type": ["integer", "null"]},
                               "max_request_bytes": {"type": ["integer", "null"]},
                               "key": {"type": ["string", "null"], "description": "The key itself: in the answer to POST /keys only"}}
              },
              "Error": {
                "type": "object", "required": ["error"],
                "properties": {"error": {"type": "object", "required": ["code", "message"],
                  "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                 "files": {"type": "array", "items": {"type": "object", "required": ["name", "error"],
                                   "properties": {"name": {"type": "string"}, "error": {"type": "string"}}}}}}}
              },
              "Accepted": {
                "type": "object", "required": ["job_id", "status", "message", "created_at", "total_files"],
                "properties": {"job_id": {"type": "string"}, "status": {"$ref": "#/components/schemas/JobState"},
                               "message": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
                               "total_files": {"type": "integer"}}
              },
              "Readiness": {
                "type": "object", "required": ["status", "checks"],
                "properties": {"status": {"type": "string", "enum": ["ready", "not_ready"]},
                               "checks": {"type": "object", "additionalProperties": {"type": "object", "required": ["ok", "detail"],
                                 "properties": {"ok": {"type": "boolean"}, "detail": {"type": "string"}}}}}
              },
              "Delivery": {
                "type": "object", "required": ["webhook_id", "event", "status", "attempts", "created_at", "history"],
                "properties": {
                  "webhook_id": {"type": "string"}, "event": {"type": "string"},
                  "status": {"type": "string", "enum": ["pending", "delivered", "failed", "stopped"]},
                  "attempts": {"type": "integer"}, "last_status_code": {"type": ["integer", "null"]}, "last_error": {"type": ["string", "null"]},
                  "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
                  "delivered_at": {"type": ["string", "null"], "format": "date-time"},
                  "created_at": {"type": "string", "format": "date-time"},
                  "history": {"type": "array", "items": {"type": "object", "required": ["attempt", "at", "seconds"],
                    "properties": {"attempt": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
                                   "status_code": {"type": ["integer", "null"]}, "error": {"type": ["string", "null"]},
                                   "seconds": {"type": "number"}}}}
                }
              },
              "JobState": {"type": "string", "enum": ["queued", "running", "completed", "completed_with_errors", "failed", "cancelled"]},
              "Status": {
                "type": "object",
                "required": ["job_id", "status", "progress", "total_files", "processed_files", "failed_files", "created_at", "updated_at"],
                "properties": {"job_id": {"type": "string"}, "status": {"$ref": "#/components/schemas/JobState"},
                               "progress": {"type": "number", "minimum": 0, "maximum": 100},
                               "total_files": {"type": "integer"}, "processed_files": {"type": "integer"}, "failed_files": {"type": "integer"},
                               "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}
              },
              "JobDetail": {
                "type": "object",
                "required": ["job_id", "status", "progress", "total_files", "processed_files", "succeeded_files", "failed_files",
                             "created_at", "updated_at", "model", "receiving", "tiles_total", "tiles_done", "detections", "files"],
                "properties": {
                  "job_id": {"type": "string"}, "status": {"$ref": "#/components/schemas/JobState"},
                  "progress": {"type": "number"}, "total_files": {"type": "integer"}, "processed_files": {"type": "integer"},
                  "succeeded_files": {"type": "integer"}, "failed_files": {"type": "integer"},
                  "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
                  "finished_at": {"type": ["string", "null"], "format": "date-time"},
                  "model": {"type": "string"},
                  "model_version": {"type": ["string", "null"], "description": "The version of the model the job runs, resolved at submit"},
                  "model_sha256": {"type": ["string", "null"], "description": "The SHA-256 of the model's file"},
                  "ground_truth": {"type": ["string", "null"], "description": "The ground truth the results are scored against when the job ends (metadata.json: evaluation)"},
                  "receiving": {"type": "boolean", "description": "True while the job's upload still streams in (POST /upload with its settings before its files): its first files run meanwhile, more may join, and it does not end before they have"},
                  "score_threshold": {"type": ["number", "null"], "description": "The score threshold the job runs with, resolved at submit (null only for jobs from before settings were resolved)"},
                  "overlap": {"type": ["number", "null"], "description": "The tile overlap the job runs with, resolved at submit"},
                  "webhook_url": {"type": ["string", "null"]}, "tiles_total": {"type": "integer"}, "tiles_done": {"type": "integer"},
                  "detections": {"type": "integer"},
                  "detections_by_class": {"type": "object", "additionalProperties": {"type": "integer"}},
                  "detections_merged": {"type": ["integer", "null"], "description": "Objects in the layer merged across files (parts cut where files meet joined, duplicates of overlapping files dropped), once the job is final; absent when no file is georeferenced"},
                  "formats": {"type": "array", "items": {"type": "string", "enum": ["coco", "geojson", "gpkg", "fgb"]}},
                  "out_crs": {"type": ["string", "null"]},
                  "output_prefix": {"type": ["string", "null"]},
                  "nms": {"type": "string", "enum": ["iou", "ios"]},
                  "webhook": {"type": ["object", "null"], "required": ["url", "own_secret", "deliveries"],
                    "properties": {"url": {"type": "string"}, "own_secret": {"type": "boolean"},
                                   "deliveries": {"type": "array", "items": {"$ref": "#/components/schemas/Delivery"}}}},
                  "results": {"type": ["object", "null"], "description": "A link to each result document the job has",
                    "properties": {"coco": {"type": "string"}, "geojson": {"type": "string"}, "detections_merged": {"type": "string"},
                                   "gpkg": {"type": "string"}, "fgb": {"type": "string"}, "fgb_merged": {"type": "string"}, "metadata": {"type": "string"}}},
                  "storage": {"type": ["object", "null"], "required": ["bucket", "pending", "synced", "failed", "objects"],
                    "description": "The job's copies in the mirror bucket (absent without one)",
                    "properties": {"bucket": {"type": "string"}, "pending": {"type": "integer"}, "synced": {"type": "integer"}, "failed": {"type": "integer"},
                      "objects": {"type": "array", "items": {"type": "object", "required": ["name", "uri", "status", "attempts"],
                        "properties": {"name": {"type": "string"}, "uri": {"type": "string"},
                                       "status": {"type": "string", "enum": ["pending", "synced", "failed"]}, "attempts": {"type": "integer"},
                                       "error": {"type": ["string", "null"]}, "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
                                       "synced_at": {"type": ["string", "null"], "format": "date-time"}, "size_bytes": {"type": ["integer", "null"]},
                                       "crc32c": {"type": ["string", "null"]}}}}}},
                  "files": {"type": "array", "items": {
                    "type": "object",
                    "required": ["name", "original_name", "status", "attempts", "size_bytes", "sha256", "tiles_total", "tiles_done", "detections"],
                    "properties": {"name": {"type": "string"}, "original_name": {"type": "string"},
                                   "source": {"type": ["string", "null"], "description": "gs:// URI the file is read from (bucket jobs)"},
                                   "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
                                   "attempts": {"type": "integer"}, "error": {"type": ["string", "null"]}, "size_bytes": {"type": "integer"},
                                   "sha256": {"type": "string"}, "tiles_total": {"type": "integer"}, "tiles_done": {"type": "integer"},
                                   "detections": {"type": "integer"},
                                   "detections_by_class": {"type": ["object", "null"], "additionalProperties": {"type": "integer"}},
                                   "quicklook": {"type": ["string", "null"]},
                                   "thumbnail": {"type": ["string", "null"], "description": "The quicklook at most 128 px, without boxes"},
                                   "footprint": {"oneOf": [{"$ref": "#/components/schemas/Polygon"}, {"type": "null"}],
                                                 "description": "The file's four corners in WGS84, from its header (absent without georeferencing)"},
                                   "bbox": {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
                                            "description": "[west, south, east, north] in degrees, over the file's edges"},
                                   "started_at": {"type": ["string", "null"], "format": "date-time"},
                                   "finished_at": {"type": ["string", "null"], "format": "date-time"},
                                   "seconds": {"type": ["number", "null"]}}}}
                }
              }
            }
          }
        }
        """#
}
