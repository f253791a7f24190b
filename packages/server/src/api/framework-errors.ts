import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, errorBody } from '../errors.js';

/**
 * Errors fastify raises while routing, before any hook or error handler runs (a path segment longer than
 * `maxParamLength`, a path that is not valid percent-encoding). Without this they leave in fastify's own shape.
 */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  let e: ApiError;
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    e = new ApiError(
      'not_found',
      'A path segment is longer than 256 characters, so it names no resource (ids are at most 128). Check the id.',
    );
  } else if (err.code === 'FST_ERR_BAD_URL') {
    e = new ApiError('invalid_request', 'The request path is not valid percent-encoding. Encode ids and paths.');
  } else {
    req.log.error({ err }, 'unhandled error (this is a bug)');
    e = new ApiError('internal', 'Internal error. It has been logged; please report it with the request id.');
  }
  void reply
    .header('request-id', req.id)
    .status(e.status)
    .send(errorBody(e, String(req.id)));
}

/**
 * Requests node's HTTP parser refuses (bad header bytes, a broken chunked body): answered in the Anthropic error
 * shape, then the connection is closed, as node does by default. There is no request, hence no request id.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, e] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [
          431,
          'Request Header Fields Too Large',
          new ApiError('request_too_large', 'The request headers are too large.'),
        ]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', new ApiError('invalid_request', 'The request was not received in time. Retry it.')]
        : [400, 'Bad Request', new ApiError('invalid_request', 'The request is not valid HTTP/1.1. Check the client.')];
  const body = JSON.stringify(errorBody(e, null));
  // An answer to HEAD has no body (a client would read it as garbage after the headers); the parser failed, so the
  // method is read from the raw bytes it kept.
  const head = (err as { rawPacket?: Buffer }).rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${code}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Content-Type: application/json\r\nConnection: close\r\n\r\n${head ? '' : body}`,
    );
  }
  socket.destroy(err);
}
