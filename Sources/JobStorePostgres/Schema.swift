/// The PostgreSQL schema, as ordered, named migrations; each runs in its own transaction and is
/// recorded in `geoinfer_migrations` once applied. Column names are the records' property names
/// (quoted), so rows map to the `Codable` records through JSON; times are seconds since 1970.
enum Schema {
    static let migrations: [(name: String, sql: [String])] = [
        (
            "v1-jobs-files",
            [
                #"""
                CREATE TABLE jobs (
                    "id" text PRIMARY KEY, "status" text NOT NULL, "createdAt" double precision NOT NULL,
                    "updatedAt" double precision NOT NULL, "finishedAt" double precision, "webhookURL" text,
                    "webhookSecret" text, "idempotencyKey" text UNIQUE, "ownerKeyID" text, "scoreThreshold" double precision,
                    "overlap" double precision, "modelName" text NOT NULL, "totalFiles" integer NOT NULL,
                    "succeededFiles" integer NOT NULL, "failedFiles" integer NOT NULL, "tilesTotal" integer NOT NULL,
                    "tilesDone" integer NOT NULL, "claims" integer NOT NULL, "progressNotified" integer NOT NULL DEFAULT 0)
                """#,
                #"CREATE INDEX jobs_status ON jobs ("status")"#,
                #"CREATE INDEX jobs_created ON jobs ("createdAt", "id")"#,
                #"CREATE INDEX jobs_owner ON jobs ("ownerKeyID")"#,
                #"""
                CREATE TABLE files (
                    "id" bigserial PRIMARY KEY, "jobID" text NOT NULL REFERENCES jobs ON DELETE CASCADE,
                    "ordinal" integer NOT NULL, "originalName" text NOT NULL, "name" text NOT NULL, "storedPath" text NOT NULL,
                    "sizeBytes" bigint NOT NULL, "sha256" text NOT NULL, "status" text NOT NULL, "attempts" integer NOT NULL,
                    "leaseOwner" text, "leaseExpiresAt" double precision, "tilesTotal" integer NOT NULL, "tilesDone" integer NOT NULL,
                    "detections" integer NOT NULL, "classCounts" jsonb, "error" text, "startedAt" double precision,
                    "finishedAt" double precision, "seconds" double precision,
                    UNIQUE ("jobID", "ordinal"), UNIQUE ("jobID", "name"))
                """#,
                #"CREATE INDEX files_claim ON files ("status", "leaseExpiresAt")"#,
                #"CREATE TABLE "fileResults" ("fileID" bigint PRIMARY KEY REFERENCES files ON DELETE CASCADE, "result" bytea NOT NULL)"#,
            ]
        ),
        (
            "v2-webhooks",
            [
                #"""
                CREATE TABLE "webhookDeliveries" (
                    "id" text PRIMARY KEY, "jobID" text NOT NULL REFERENCES jobs ON DELETE CASCADE, "event" text NOT NULL,
                    "url" text NOT NULL, "payload" text NOT NULL, "secret" text, "status" text NOT NULL, "attempts" integer NOT NULL,
                    "step" integer NOT NULL, "nextAttemptAt" double precision, "leaseOwner" text, "leaseExpiresAt" double precision,
                    "lastStatusCode" integer, "lastError" text, "createdAt" double precision NOT NULL, "deliveredAt" double precision)
                """#,
                #"CREATE INDEX deliveries_job ON "webhookDeliveries" ("jobID")"#,
                #"CREATE INDEX deliveries_due ON "webhookDeliveries" ("status", "nextAttemptAt")"#,
                #"""
                CREATE TABLE "webhookAttempts" (
                    "id" bigserial PRIMARY KEY, "deliveryID" text NOT NULL REFERENCES "webhookDeliveries" ON DELETE CASCADE,
                    "number" integer NOT NULL, "at" double precision NOT NULL, "statusCode" integer, "error" text,
                    "seconds" double precision NOT NULL)
                """#,
                #"CREATE INDEX attempts_delivery ON "webhookAttempts" ("deliveryID")"#,
            ]
        ),
        (
            "v3-api-keys",
            [
                #"""
                CREATE TABLE "apiKeys" (
                    "id" text PRIMARY KEY, "name" text NOT NULL, "scope" text NOT NULL, "hash" text NOT NULL UNIQUE,
                    "prefix" text NOT NULL, "createdAt" double precision NOT NULL, "revokedAt" double precision,
                    "maxFiles" integer, "maxFileBytes" bigint, "maxRequestBytes" bigint)
                """#
            ]
        ),
        (
            "v4-mirror",
            [
                #"""
                CREATE TABLE "mirrorObjects" (
                    "id" bigserial PRIMARY KEY, "jobID" text NOT NULL REFERENCES jobs ON DELETE CASCADE, "name" text NOT NULL UNIQUE,
                    "status" text NOT NULL, "metadata" jsonb NOT NULL, "replace" boolean NOT NULL, "attempts" integer NOT NULL,
                    "nextAttemptAt" double precision, "leaseOwner" text, "leaseExpiresAt" double precision, "lastError" text,
                    "sizeBytes" bigint, "crc32c" text, "generation" text, "createdAt" double precision NOT NULL,
                    "syncedAt" double precision)
                """#,
                #"CREATE INDEX mirror_job ON "mirrorObjects" ("jobID")"#,
                #"CREATE INDEX mirror_due ON "mirrorObjects" ("nextAttemptAt")"#,
            ]
        ),
        // A claim finds the next file of one job through this index, whatever the job's size.
        (
            "v5-claim-index",
            [
                #"CREATE INDEX files_job_claim ON files ("jobID", "status", "ordinal")"#
            ]
        ),
        // The digest of the request that used an Idempotency-Key: another request with it is refused.
        (
            "v6-idempotency-fingerprint",
            [
                #"ALTER TABLE jobs ADD COLUMN "idempotencyFingerprint" text"#
            ]
        ),
        // Where each file lies in WGS84, for the dashboard's map.
        (
            "v7-file-footprint",
            [
                #"ALTER TABLE files ADD COLUMN "footprint" jsonb"#
            ]
        ),
        // The result formats and GIS layers' CRS chosen at submit, and the merged layer's count.
        (
            "v8-result-formats",
            [
                #"ALTER TABLE jobs ADD COLUMN "formats" text, ADD COLUMN "outCRS" text, ADD COLUMN "mergedDetections" integer, ADD COLUMN "outputPrefix" text, ADD COLUMN "nmsMetric" text"#,
                #"ALTER TABLE "mirrorObjects" ADD COLUMN "source" text"#,
            ]
        ),
        // The model registry, and the model version each job runs.
        (
            "v9-model-registry",
            [
                #"""
                CREATE TABLE models (
                    "name" text NOT NULL, "version" text NOT NULL, "sha256" text NOT NULL, "path" text NOT NULL,
                    "sizeBytes" bigint NOT NULL, "manifest" text NOT NULL, "metrics" text, "addedAt" double precision NOT NULL,
                    PRIMARY KEY ("name", "version"))
                """#,
                #"ALTER TABLE jobs ADD COLUMN "modelVersion" text, ADD COLUMN "modelSHA256" text"#,
            ]
        ),
        // The data directory that holds each mirrored file.
        (
            "v10-mirror-origin",
            [
                #"ALTER TABLE "mirrorObjects" ADD COLUMN "origin" text"#
            ]
        ),
        // Ground truth a job's results are scored against.
        (
            "v11-ground-truth",
            [
                #"ALTER TABLE jobs ADD COLUMN "groundTruth" text, ADD COLUMN "groundTruthName" text"#
            ]
        ),
        // The upload still adding files to a job made while it streams in.
        (
            "v12-receiving",
            [
                #"ALTER TABLE jobs ADD COLUMN "receiving" text"#
            ]
        ),
    ]
}
