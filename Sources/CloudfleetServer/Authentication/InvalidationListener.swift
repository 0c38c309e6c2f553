import CloudfleetStore
import Logging
import ServiceLifecycle

/// Keeps this node's verification cache in step with changes made on other nodes: every announced change drops
/// the token's cached state, and while the feed is down the cache is not used at all, so a node never answers
/// from state it cannot know is current.
struct InvalidationListener: Service {
    let feed: any ChangeFeed
    let cache: VerificationCache
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await feed.followTokenChanges(
                onSubscribed: {
                    cache.reset(trusted: true)
                    logger.debug("token change feed subscribed; verification cache in use")
                },
                onChange: { id in cache.invalidate(id) },
                onLost: { cache.reset(trusted: false) })
        }
    }
}
