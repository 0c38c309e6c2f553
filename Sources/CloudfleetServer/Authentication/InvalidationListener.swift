import CloudfleetStore
import Logging
import ServiceLifecycle

/// Keeps this node's verification cache and signing keys in step with changes made on other nodes: every
/// announced change drops the token's cached state, a key rotation reloads the keys, and while the feed is down
/// the cache is not used at all, so a node never answers from state it cannot know is current.
struct InvalidationListener: Service {
    let feed: any ChangeFeed
    let cache: VerificationCache
    let signingKeys: SigningKeys
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await feed.followChanges(
                onSubscribed: {
                    cache.reset(trusted: true)
                    logger.debug("token change feed subscribed; verification cache in use")
                    // A rotation may have happened while the feed was down.
                    Task { await signingKeys.reload() }
                },
                onChange: { id in cache.invalidate(id) },
                onSigningKeysChange: { Task { await signingKeys.reload() } },
                onLost: { cache.reset(trusted: false) })
        }
    }
}
