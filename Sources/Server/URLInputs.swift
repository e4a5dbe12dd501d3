import Foundation
import HTTPTypes
import Storage
import Webhooks

/// Which http(s) URLs a job may read its rasters from: only under the URL prefixes an operator
/// lists in `GEOINFER_URL_INPUTS` (none by default, so no caller can make the service fetch a URL),
/// and only from public addresses, with the same check as webhooks, unless a prefix names its
/// host by IP address (a private network the operator chose). Checked when a job is submitted
/// and again by the worker before each read.
public struct URLInputPolicy: Sendable {
    /// The prefixes, normalised (`scheme://host[:port]/path`, host lowercased).
    public let prefixes: [String]
    private let addresses: WebhookAddressPolicy

    /// Why a prefix or a caller's URL was refused.
    public struct Refused: Error, CustomStringConvertible, Sendable {
        /// The API error code: `invalid_url_inputs` (a bad prefix), `url_inputs_not_allowed`, `invalid_inputs` or `url_not_allowed`.
        public let code: String
        /// The message: the entry or URL (shortened) and what to do.
        public let description: String
    }

    /// `prefixes`: absolute http(s) URLs without credentials, query or fragment, e.g.
    /// `https://data.example.org/cogs/`. Throws a message naming the bad entry.
    public init(prefixes: [String]) throws(Refused) {
        var normalised: [String] = []
        var literalHosts: [String] = []
        for raw in prefixes.map({ $0.trimmingCharacters(in: .whitespaces) }) where !raw.isEmpty {
            guard let url = URL(string: raw), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
                let host = url.host?.lowercased(), !host.isEmpty, url.user == nil, url.password == nil, url.query == nil,
                url.fragment == nil
            else {
                throw Refused(
                    code: "invalid_url_inputs",
                    description:
                        "GEOINFER_URL_INPUTS entry '\(raw.prefix(200))' is not an http(s) URL prefix like https://data.example.org/cogs/")
            }
            // The prefix as a caller's URL is compared: lowercased scheme and host, path as written
            // (a bare host gets "/", so https://host never matches https://host.other.org).
            guard var components = URLComponents(string: raw) else {
                throw Refused(code: "invalid_url_inputs", description: "GEOINFER_URL_INPUTS entry '\(raw.prefix(200))' is not a URL")
            }
            components.scheme = scheme
            components.host = host
            if components.percentEncodedPath.isEmpty { components.percentEncodedPath = "/" }
            guard let prefix = components.string else {
                throw Refused(code: "invalid_url_inputs", description: "GEOINFER_URL_INPUTS entry '\(raw.prefix(200))' is not a URL")
            }
            normalised.append(prefix)
            let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
            if IPAddress(bare) != nil { literalHosts.append(bare) }
        }
        self.prefixes = normalised
        do {
            addresses = try WebhookAddressPolicy(allowlist: literalHosts)
        } catch {
            throw Refused(code: "invalid_url_inputs", description: "GEOINFER_URL_INPUTS: \(error.description)")
        }
    }

    /// Whether any URL input is allowed at all.
    public var isEnabled: Bool { !prefixes.isEmpty }

    /// Whether `text` is an http(s) URL (rather than a gs:// URI or anything else).
    public static func isURL(_ text: String) -> Bool {
        let lower = text.prefix(8).lowercased()
        return lower.hasPrefix("https://") || lower.hasPrefix("http://")
    }

    /// Checks a caller's URL: its form, that it lies under a listed prefix, and that its host
    /// resolves to addresses it may. Returns the URL as it will be read.
    @discardableResult
    public func check(_ text: String) async throws(Refused) -> String {
        guard isEnabled else {
            throw Refused(
                code: "url_inputs_not_allowed",
                description: "this server reads no http(s) inputs; an operator can allow URL prefixes with GEOINFER_URL_INPUTS")
        }
        let url: URL
        do { (url, _) = try WebhookAddressPolicy.parse(text) } catch {
            throw Refused(
                code: "invalid_inputs",
                description:
                    "\(text.prefix(300)): not a usable http(s) URL (\(error.description.replacingOccurrences(of: "webhook_url ", with: "")))"
            )
        }
        guard url.fragment == nil else {
            throw Refused(code: "invalid_inputs", description: "\(text.prefix(300)): a URL input has no fragment")
        }
        guard var components = URLComponents(string: text) else {
            throw Refused(code: "invalid_inputs", description: "\(text.prefix(300)): not a usable http(s) URL")
        }
        components.scheme = components.scheme?.lowercased()
        components.host = components.host?.lowercased()
        // A "." or ".." segment (even percent-encoded) could leave the prefix once the server decodes it.
        let segments = url.path.split(separator: "/", omittingEmptySubsequences: false)
        guard let canonical = components.string, !segments.contains("."), !segments.contains(".."),
            prefixes.contains(where: { canonical.hasPrefix($0) })
        else {
            throw Refused(
                code: "url_not_allowed",
                description: "\(text.prefix(300)) is not under a URL prefix this server reads from (GEOINFER_URL_INPUTS)")
        }
        do {
            _ = try await addresses.check(canonical)
        } catch {
            throw Refused(
                code: "url_not_allowed",
                description:
                    "\(text.prefix(300)): its host does not resolve to a public address (URL inputs are read from public addresses, or from an address GEOINFER_URL_INPUTS names by IP)"
            )
        }
        return canonical
    }
}

extension UploadHandler {
    /// Checks each http(s) input of a `POST /jobs`: allowed (403 naming each refused URL), then its
    /// first bytes read by a range request, without following redirects (400 naming each that is
    /// not a TIFF or does not answer ranges). Returns each URL as it will be read, with its size.
    func checkURLInputs(_ texts: [String]) async throws -> [(text: String, url: String, size: Int64)] {
        guard !texts.isEmpty else { return [] }
        var checked: [(text: String, url: String)] = []
        var refused: [APIError.FileProblem] = []
        var code = "url_not_allowed"
        for text in texts {
            do { checked.append((text, try await urlInputs.check(text))) } catch {
                if error.code != "url_not_allowed" { code = error.code }
                refused.append(.init(name: String(text.prefix(300)), error: error.description))
            }
        }
        guard refused.isEmpty else {
            let status: HTTPResponse.Status = code == "invalid_inputs" ? .unprocessableContent : .forbidden
            throw APIError(
                status, code,
                "\(refused.count) of \(texts.count) URL inputs are refused: \(refused.map(\.error).prefix(3).joined(separator: "; "))",
                files: Array(refused.prefix(100)))
        }
        var seen = Set<String>()
        let distinct = checked.filter { seen.insert($0.url).inserted }
        let http = self.http
        return try await withThrowingTaskGroup(of: (Int, Probe).self) { group in
            var next = 0
            var sizes = [Int64?](repeating: nil, count: distinct.count)
            var problems: [APIError.FileProblem] = []
            func add() {
                let i = next
                next += 1
                let url = distinct[i].url
                group.addTask { (i, await Self.probe(url, http: http)) }
            }
            while next < min(8, distinct.count) { add() }
            while let (i, result) = try await group.next() {
                switch result {
                case .size(let size): sizes[i] = size
                case .problem(let problem): problems.append(problem)
                }
                if next < distinct.count { add() }
            }
            guard problems.isEmpty else {
                throw APIError(
                    .badRequest, "invalid_files",
                    "\(problems.count) of \(distinct.count) URL inputs cannot be read as GeoTIFFs: \(problems.map(\.name).prefix(10).joined(separator: ", ")); nothing was accepted",
                    files: problems.sorted { $0.name < $1.name })
            }
            return zip(distinct, sizes).map { (text: $0.text, url: $0.url, size: $1 ?? 0) }
        }
    }

    /// The size of the raster at `url`, from a request for its first 8 bytes, which must be a TIFF
    /// header and come as a partial answer (the server must honour ranges to be read in place).
    static func probe(_ url: String, http: HTTPTransport) async -> Probe {
        func problem(_ why: String) -> Probe { .problem(.init(name: url, error: why)) }
        let answer: HTTPAnswer
        do {
            answer = try await http.send("GET", url, headers: [("Range", "bytes=0-7")], timeout: 15, maxResponseBytes: 64 << 10)
        } catch {
            return problem("could not be read (no answer, or a whole file sent for a range request: the server must honour Range)")
        }
        guard answer.status == 206 else {
            return problem(
                answer.status == 200
                    ? "the server ignores range requests, so the file cannot be read in place"
                    : "answered HTTP \(answer.status) (redirects are not followed)")
        }
        guard isTIFFHeader(answer.body) else {
            return problem("not a TIFF (the first bytes are not a TIFF header)")
        }
        // Content-Range: bytes 0-7/12345
        let range = answer.headers.first { $0.0.lowercased() == "content-range" }?.1 ?? ""
        guard let total = range.split(separator: "/").last.flatMap({ Int64($0) }), total >= 8 else {
            return problem("the answer has no usable Content-Range total size")
        }
        return .size(total)
    }

    /// What reading an http(s) input's first bytes found.
    enum Probe: Sendable {
        case size(Int64)
        case problem(APIError.FileProblem)
    }
}

/// No buckets: for a `POST /jobs` of http(s) inputs only, on a server without GCS.
struct NoBuckets: BucketResolver {
    func store(bucket: String) throws -> any BlobStore {
        throw StorageError.configuration("this server cannot read from GCS")
    }
}
