import CacheStore
import Topology

/// What one site's requests run under on this edge: the edge's settings with the site's own
/// over them (cache rules, asset pipeline, cookies, push capacity), and its pushed objects.
/// Built once at start; a request's `Route` points at its site's.
final class SitePolicy: Sendable {
    /// nil: the edge has no `[[sites]]`, and this is its one default site.
    let name: String?
    /// Its position in `[[sites]]`, for the per-site counters.
    let index: Int?
    /// The edge's settings as they apply to this site.
    let config: EdgeConfig
    let assets: AssetTransform
    /// This site's pushed objects, when the control API is on.
    let pushes: PushStore?

    init(name: String?, index: Int?, config: EdgeConfig, assets: AssetTransform, pushes: PushStore?) {
        self.name = name
        self.index = index
        self.config = config
        self.assets = assets
        self.pushes = pushes
    }

    /// Where a site's pushed objects live: the edge's `data_dir` when it has no sites, else a
    /// folder per site under it, so that one site's pushes never answer for another.
    static func pushDirectory(_ config: EdgeConfig, site: String?) -> String {
        site.map { config.dataDirectory + "/sites/" + $0 } ?? config.dataDirectory
    }
}
