import Foundation
import HTTPTypes
import Storage

/// A STAC Item or ItemCollection given to `POST /jobs` as `"stac": {"url": …, "asset": …}` or
/// `"stac": {"document": {…}, "asset": …}`: each item's asset becomes one input, named after the
/// item.
struct STACSource: Decodable, Sendable {
    var url: String?
    var document: STACDocument?
    var asset: String
}

/// The parts of a STAC Item (a GeoJSON Feature) or ItemCollection (a FeatureCollection) that name
/// rasters; anything else in the document is ignored.
struct STACDocument: Decodable, Sendable {
    var type: String
    var id: String?
    var assets: [String: Asset]?
    var features: [STACDocument]?

    struct Asset: Decodable, Sendable {
        var href: String
    }
}

/// A STAC document that cannot give the job its inputs; the message says which item and why.
struct STACProblem: Error, Sendable, Equatable {
    let message: String
}

enum STACInputs {
    /// Each item's `asset` as (name, href): the name is the item's id (sanitised when the job is
    /// made) with `.tif`; a relative href is resolved against `base` (the document's URL), and
    /// must then be gs:// or http(s). At most `limit` items.
    static func inputs(_ document: STACDocument, asset: String, base: URL?, limit: Int) throws(STACProblem) -> [(
        name: String, href: String
    )] {
        let items: [STACDocument]
        switch document.type {
        case "Feature": items = [document]
        case "FeatureCollection": items = document.features ?? []
        default:
            throw STACProblem(
                message:
                    "a STAC document is an Item (type Feature) or an ItemCollection (type FeatureCollection), not \(document.type.prefix(50))"
            )
        }
        guard !items.isEmpty else { throw STACProblem(message: "the ItemCollection has no items") }
        guard items.count <= limit else {
            throw STACProblem(message: "the ItemCollection has \(items.count) items, more than the \(limit) files a request may name")
        }
        var result: [(name: String, href: String)] = []
        for (i, item) in items.enumerated() {
            let label = item.id.map { "item \($0.prefix(100))" } ?? "item \(i + 1)"
            guard item.type == "Feature" else { throw STACProblem(message: "\(label) is not a Feature") }
            guard let href = item.assets?[asset]?.href, !href.isEmpty else {
                throw STACProblem(
                    message:
                        "\(label) has no asset '\(asset.prefix(100))' (its assets: \((item.assets ?? [:]).keys.sorted().prefix(10).map { String($0.prefix(100)) }.joined(separator: ", ")))"
                )
            }
            let resolved: String
            if href.hasPrefix("gs://") || URLInputPolicy.isURL(href) {
                resolved = href
            } else if let base, let url = URL(string: href, relativeTo: base)?.absoluteURL, URLInputPolicy.isURL(url.absoluteString) {
                resolved = url.absoluteString
            } else {
                throw STACProblem(
                    message:
                        "\(label): asset '\(asset.prefix(100))' has href \(href.prefix(200)), which is neither gs:// nor http(s)\(base == nil ? " (relative hrefs need the document's URL)" : "")"
                )
            }
            result.append((name: "\(item.id ?? "item-\(i + 1)").tif", href: resolved))
        }
        return result
    }
}

extension UploadHandler {
    /// The inputs a STAC source names, each with the file name it gets. A document given by URL is
    /// fetched like an http(s) input (the operator's prefixes, public addresses, no redirects),
    /// and at most 4 MiB of it is read.
    func stacInputs(_ source: STACSource, limit: Int) async throws -> [(name: String, href: String)] {
        try HostileText.check(source.asset, "stac.asset")
        let document: STACDocument
        let base: URL?
        switch (source.url, source.document) {
        case (let text?, nil):
            try HostileText.check(text, "stac.url")
            let url: String
            do { url = try await urlInputs.check(text) } catch {
                throw APIError(
                    error.code == "invalid_inputs" ? .unprocessableContent : .forbidden, error.code, "stac.url: \(error.description)")
            }
            let answer: HTTPAnswer
            do { answer = try await http.send("GET", url, timeout: 30, maxResponseBytes: 4 << 20) } catch {
                throw APIError(.badRequest, "invalid_stac", "stac.url could not be read (no answer, or larger than 4 MiB)")
            }
            guard answer.status == 200 else {
                throw APIError(.badRequest, "invalid_stac", "stac.url answered HTTP \(answer.status) (redirects are not followed)")
            }
            do { document = try JSONDecoder().decode(STACDocument.self, from: answer.body) } catch {
                throw APIError(.badRequest, "invalid_stac", "stac.url is not a STAC Item or ItemCollection: \(Self.short(error))")
            }
            base = URL(string: url)
        case (nil, let inline?):
            document = inline
            base = nil
        default:
            throw APIError(
                .unprocessableContent, "invalid_stac",
                "stac needs exactly one of url (a STAC document's address) and document (the document itself)")
        }
        do {
            let found = try STACInputs.inputs(document, asset: source.asset, base: base, limit: limit)
            for f in found { try HostileText.check(f.href, "an asset href") }
            return found
        } catch let problem as STACProblem {
            throw APIError(.unprocessableContent, "invalid_stac", problem.message)
        }
    }
}
