import CloudfleetCore
import CloudfleetStore
import Foundation
import Logging

/// Everything between presented credentials and an authenticated token, shared by `/v1` and the token
/// endpoint: the failure limiter, the check of the secret or access token, expiry, the IP fence, audit of
/// refusals, last use and metrics.
struct AuthenticationGate: Sendable {
    /// Credentials as presented.
    enum Credentials: Sendable {
        case basic(id: String, secret: String)
        case bearer(Substring)

        /// The kind of credentials, without the credentials.
        enum Kind: String, Sendable {
            case basic, bearer
        }

        var kind: Kind {
            switch self {
            case .basic: .basic
            case .bearer: .bearer
            }
        }
    }

    /// Why a request was refused, for the caller to answer in its own format.
    enum Refusal: Error, Equatable {
        /// No or wrong credentials (401).
        case unauthorized
        /// The right secret of a token that has expired (401, saying so).
        case expired(Date)
        /// The token may not be used from this address (403).
        case addressNotAllowed
        /// Too many failures from this token ID or address (429).
        case rateLimited(retryAfter: Int)
    }

    let authenticator: Authenticator
    let limiter: FailureLimiter
    let auditor: FailureAuditor
    let usage: UsageRecorder
    let metrics: ServerMetrics
    let clock: @Sendable () -> Date

    private nonisolated(nonsending) func verify(_ credentials: Credentials, at now: Date, storeLookup: Bool) async throws
        -> Authenticator.Verified
    {
        switch credentials {
        case .basic(let id, let secret): try await authenticator.verify(tokenID: id, secret: secret, at: now, storeLookup: storeLookup)
        case .bearer(let token): try await authenticator.verify(accessToken: token, at: now, storeLookup: storeLookup)
        }
    }

    /// The token behind `credentials`, or a ``Refusal``. Store outages are rethrown as they are.
    ///
    /// `requestID` is read only for the audit record of a refusal: Hummingbird formats it anew on each read. `userAgent`
    /// is read only when the use is queued for the store, at most once a minute per token: HTTPTypes joins a field's
    /// values into a new string on each read.
    ///
    /// `nonisolated(nonsending)`, as are the ``Authenticator`` functions it calls: they run on the caller's executor,
    /// so a token found in the caches costs no executor switch at each call and return (six a request otherwise).
    nonisolated(nonsending) func authenticate(
        _ credentials: Credentials?, path: ServerMetrics.Path, sourceIP: String?, userAgent: @autoclosure () -> String?,
        requestID: @autoclosure () -> String?, logger: Logger
    ) async throws -> Authenticator.Verified {
        let now = clock()
        guard let credentials else {
            metrics.authentication(path, .failure)
            throw Refusal.unauthorized
        }
        // The token ID a Basic credential claims, for its budget of failures. Read only where the limiter needs it: with
        // no failure on record (the usual case) it has nothing to look up.
        func claimedID() -> String? {
            guard case .basic(let id, _) = credentials, TokenID(id) != nil else { return nil }
            return id
        }
        let limited = limiter.retryAfter(tokenID: claimedID(), address: sourceIP, now: now)
        let verified: Authenticator.Verified
        do {
            do {
                if let cached = try authenticator.verifyFromCaches(credentials, at: now) {
                    verified = cached
                } else {
                    // While limited, guesses are checked against cached tokens only …
                    verified = try await verify(credentials, at: now, storeLookup: limited == nil)
                }
            } catch Authenticator.Failure.notCached
                where limiter.allowLookupWhileLimited(tokenID: claimedID(), address: sourceIP, now: now)
            {
                // … and reach the store at most once a second, which refills the cache after a change to the token.
                verified = try await verify(credentials, at: now, storeLookup: true)
            }
        } catch let failure as Authenticator.Failure {
            logger.debug("authentication failed", metadata: ["reason": "\(failure)"])
            if case .expired(let at) = failure {
                metrics.authentication(path, .expired)
                throw Refusal.expired(at)
            }
            if failure == .notCached, let limited {
                // Not a verdict on the credentials: nothing is spent, the caller retries shortly.
                metrics.authentication(path, .rateLimited)
                throw Refusal.rateLimited(retryAfter: min(limited, Int(limiter.limitedLookupInterval.rounded(.up))))
            }
            if case .wrongSecret(let id, let organization) = failure {
                auditor.record(
                    .authenticationFailure, tokenID: id, organization: organization, sourceIP: sourceIP, requestID: requestID(),
                    reason: "wrong secret", at: now)
            }
            limiter.recordFailure(tokenID: claimedID(), address: sourceIP, now: now)
            if let limited {
                metrics.authentication(path, .rateLimited)
                throw Refusal.rateLimited(retryAfter: limited)
            }
            metrics.authentication(path, .failure)
            throw Refusal.unauthorized
        }
        let state = verified.state
        guard state.fence.allows(sourceIP) else {
            auditor.record(
                .authenticationIPRefused, tokenID: state.id, organization: state.organizationID, sourceIP: sourceIP, requestID: requestID(),
                reason: "source address outside allowed_cidrs", at: now)
            metrics.authentication(path, .ipRefused)
            throw Refusal.addressNotAllowed
        }
        usage.record(state.id, at: now, sourceIP: sourceIP, userAgent: userAgent(), slot: verified.slot)
        metrics.authentication(path, .success)
        return verified
    }
}
