import CloudfleetAPI
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTPTypes

/// Answers a TokenReview on the connection's event loop when everything it needs is in this node's caches, and
/// hands every other request, unchanged and in order, to Hummingbird.
///
/// A kube-apiserver calls the webhook for each kubectl request it has not cached, over one kept-alive connection.
/// Through Hummingbird a review costs a hand-over to the concurrency runtime and back and a request-body stream:
/// 70 % of the no-op route's throughput, where architecture §9 asks for 85 % (bench/history.md). Here, behind NIO's
/// HTTP parser, a review whose caller's cluster, token signature and token state are all cached is decided by the
/// same code as on the router (`TokenReviewController.answerFromCaches`), with the same answer, header fields,
/// request log line and metrics; nothing waits and nothing reads the store. Anything else goes to Hummingbird as it
/// arrived: another route, a cache miss, a refused caller, a malformed review, a `Connection` field other than
/// `keep-alive`, an `Expect` field, a body over the API's limit, a connection that is shutting down. While
/// Hummingbird owes an answer on the connection, every later request goes to it too, so answers keep their order.
/// On a connection whose first request is not a review (an API client's) the handler removes itself at once.
final class TokenReviewFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// What the handler shares with the router: the controller, the logger and the answers' fixed headers.
    struct Dependencies: Sendable {
        let controller: TokenReviewController
        let logger: Logger
        let metrics: ServerMetrics
        let serverName: String
        let maxBodySize: Int
    }

    private enum State {
        /// Between requests, or passing a request's parts on.
        case passing
        /// Holding a review until its end, to answer it here or pass it on whole.
        case holding(head: HTTPRequest, clusterID: Substring, body: ByteBuffer, start: ContinuousClock.Instant)
    }

    private let dependencies: Dependencies
    private var state = State.passing
    /// Requests passed to Hummingbird whose answer has not been written to its end yet.
    private var owedAnswers = 0
    private var quiescing = false
    /// Whether the connection has sent a request yet.
    private var sawRequest = false
    /// The peer's address as the audit and last-use records write it, found at the first review.
    private var sourceIP: String?

    init(_ dependencies: Dependencies) {
        self.dependencies = dependencies
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (state, part) {
        case (.passing, .head(let head)):
            let first = !sawRequest
            sawRequest = true
            if let clusterID = reviewClusterID(head) {
                state = .holding(head: head, clusterID: clusterID, body: context.channel.allocator.buffer(capacity: 0), start: .now)
            } else {
                owedAnswers += 1
                context.fireChannelRead(data)
                // A connection that opens with anything but a review is an API client's, not an API server's calling
                // its webhook: the handler leaves it, so that the API's requests do not pass through it.
                if first { context.pipeline.syncOperations.removeHandler(context: context, promise: nil) }
            }
        case (.holding(let head, let clusterID, var body, let start), .body(var chunk)):
            guard body.readableBytes + chunk.readableBytes <= dependencies.maxBodySize else {
                // Hummingbird answers it with its 413.
                state = .passing
                passOn(head: head, body: body, context: context)
                context.fireChannelRead(data)
                return
            }
            state = .passing  // drops the buffer's other reference before the write, so it is not copied
            if body.readableBytes == 0 {
                body = chunk  // the usual case: the whole body in one part
            } else {
                body.writeBuffer(&chunk)
            }
            state = .holding(head: head, clusterID: clusterID, body: body, start: start)
        case (.holding(let head, let clusterID, let body, let start), .end):
            state = .passing
            if sourceIP == nil { sourceIP = context.channel.remoteAddress?.ipAddressText }
            let logger = requestLogger()
            if let answer = dependencies.controller.answerFromCaches(
                clusterID: clusterID, headers: head.headerFields, body: body, sourceIP: sourceIP, logger: logger)
            {
                respond(answer, to: head, start: start, logger: logger, context: context)
            } else {
                passOn(head: head, body: body, context: context)
                context.fireChannelRead(data)
            }
        case (.holding(let held, _, let body, _), .head):
            // Not a sequence NIO's parser writes: Hummingbird gets both heads as they came.
            state = .passing
            passOn(head: held, body: body, context: context)
            owedAnswers += 1
            context.fireChannelRead(data)
        case (.passing, .body), (.passing, .end):
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), owedAnswers > 0 { owedAnswers -= 1 }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // From now on Hummingbird, which closes the connection once it is idle, sees every request; one being
            // held goes to it too, and the rest of its parts follow it.
            quiescing = true
            if case .holding(let head, _, let body, _) = state {
                state = .passing
                passOn(head: head, body: body, context: context)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The cluster ID of a request the handler may answer: `POST` to exactly the webhook's path, with none of the
    /// fields that change how a connection goes on, while Hummingbird owes no answer on it.
    private func reviewClusterID(_ head: HTTPRequest) -> Substring? {
        guard owedAnswers == 0, !quiescing, head.method == .post, let path = head.path,
            let clusterID = TokenReviewController.clusterID(inPath: path),
            head.headerFields[.expect] == nil, Self.keepsConnection(head.headerFields[.connection])
        else { return nil }
        return clusterID
    }

    /// Whether the `Connection` field leaves the connection as it is: absent, or `keep-alive` (which HTTP/1.1 clients
    /// such as Python's send). `close`, `upgrade` and anything else (several fields too) are Hummingbird's to handle.
    private static func keepsConnection(_ value: String?) -> Bool {
        guard let value else { return true }
        return value.utf8.count == 10 && value.lowercased() == "keep-alive"
    }

    /// Passes a held request's head and body on to Hummingbird.
    private func passOn(head: HTTPRequest, body: ByteBuffer, context: ChannelHandlerContext) {
        owedAnswers += 1
        context.fireChannelRead(wrapInboundOut(.head(head)))
        if body.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(.body(body))) }
    }

    /// The per-request logger Hummingbird would give the request: the server's, with a new request ID (formatted
    /// once here, for the log line and the `X-Request-ID` field alike).
    private func requestLogger() -> Logger {
        var logger = dependencies.logger
        logger[metadataKey: "hb.request.id"] = .string(RequestID().description)
        return logger
    }

    /// Writes the answer with the headers, log line and metrics the router's middleware and Hummingbird give it.
    private func respond(
        _ answer: TokenReviewController.TokenReviewResponse, to head: HTTPRequest, start: ContinuousClock.Instant, logger: Logger,
        context: ChannelHandlerContext
    ) {
        let bytes = answer.jsonBytes
        let requestID = logger[metadataKey: "hb.request.id"]?.description ?? ""
        RequestLogMiddleware.record(
            method: .post, path: head.path ?? "", route: TokenReviewController.path, status: .ok, elapsed: .now - start, tokenID: nil,
            logger: logger, metrics: dependencies.metrics)
        dependencies.metrics.reviewAnsweredFromCaches()
        var fields = HTTPFields.json(length: bytes.count)
        fields[.requestID] = requestID
        fields[.date] = HTTPDate.now
        fields[.server] = dependencies.serverName
        let response = HTTPResponse(status: .ok, headerFields: fields)
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: bytes))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        // Flushed once the event loop has handled the other connections that were ready with this one: their answers
        // then leave in one burst, and a client waiting on them is woken once rather than once for each. On this
        // VM a wake-up costs the sender several microseconds; flushing at once held the webhook at 37K reviews a
        // second against 42.5K so (bench/history.md, eighth round). From the channel, so it reaches the socket
        // whatever happens to this handler meanwhile.
        let channel = context.channel
        context.eventLoop.execute { channel.flush() }
    }
}
