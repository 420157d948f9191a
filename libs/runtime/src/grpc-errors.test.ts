// Status messages stay short whatever a handler quotes (issue 14, found by test/fuzz): a message
// quoting a 100 KB request value used to become a multi-megabyte grpc-message trailer, and the
// client got no status before its deadline, nor did the next calls on the same channel.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ValidationError } from '@fulcrum/core';
import { common, device } from '@fulcrum/proto';
import { ERROR_DETAIL_METADATA_KEY } from '@fulcrum/proto';
import { startGrpcServer, unary, type RunningGrpcServer } from './grpc-server.js';
import { clientSecurity, unaryCall } from './grpc-client.js';
import { GrpcStatusError, MAX_STATUS_MESSAGE_BYTES, errorField, shortStatusMessage, toGrpcError } from './grpc-errors.js';

const HUGE = '\u0000'.repeat(100_000);

describe('status messages are short', () => {
  it('shortStatusMessage keeps a short text and cuts a long one to the byte limit, saying how long it was', () => {
    assert.equal(shortStatusMessage('mode.gpuMhz: 1000 is not on the grid'), 'mode.gpuMhz: 1000 is not on the grid');
    for (const unit of ['a', 'é', '€', '💥', '\u0000']) {
      const text = `stream: no stream ${unit.repeat(50_000)} here`;
      const short = shortStatusMessage(text);
      assert.ok(Buffer.byteLength(short) <= MAX_STATUS_MESSAGE_BYTES, `${unit}: ${Buffer.byteLength(short)} bytes`);
      assert.match(short, new RegExp(`… \\(${text.length} characters\\)$`));
      assert.ok(short.startsWith('stream: no stream '));
      assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(short), 'no half surrogate pair');
    }
  });

  it('toGrpcError cuts every kind of message, and the ErrorDetail, keeping the field', () => {
    const v = toGrpcError(new ValidationError('stream', `unknown stream ${JSON.stringify(HUGE)}`));
    assert.equal(v.code, grpc.status.INVALID_ARGUMENT);
    assert.ok(Buffer.byteLength(v.details) <= MAX_STATUS_MESSAGE_BYTES);
    assert.match(v.details, /^stream: unknown stream /);
    const detail = common.ErrorDetail.decode(v.metadata!.get(ERROR_DETAIL_METADATA_KEY)[0] as Buffer);
    assert.equal(detail.field, 'stream');
    assert.ok(Buffer.byteLength(detail.reason) <= MAX_STATUS_MESSAGE_BYTES);
    for (const err of [new GrpcStatusError(grpc.status.NOT_FOUND, HUGE, 'stream'), new Error(HUGE), { code: grpc.status.UNAVAILABLE, details: HUGE, metadata: new grpc.Metadata() }]) {
      assert.ok(Buffer.byteLength(toGrpcError(err).details) <= MAX_STATUS_MESSAGE_BYTES);
    }
  });

  describe('over gRPC', () => {
    let server: RunningGrpcServer;
    before(async () => {
      const implementation: device.DeviceControllerServer = {
        getDeviceInfo: unary(async () => device.GetDeviceInfoResponse.fromPartial({ info: { device: 'orin-agx' } })),
        // Quotes the request's value in full, as the executor's Infer did for a stream name.
        setPowerMode: unary(async () => {
          throw new ValidationError('settleS', `unknown value ${JSON.stringify(HUGE)}`);
        }),
        getPowerMode: unary(async () => device.GetPowerModeResponse.fromPartial({})),
        streamTelemetry: () => undefined,
      };
      server = await startGrpcServer({ services: [{ name: 'fulcrum.device.v1.DeviceController', definition: device.DeviceControllerService, implementation }] });
    });
    after(() => server.shutdown(1000));

    it('a handler quoting a 100 KB value: INVALID_ARGUMENT at once, and the channel keeps working', async () => {
      const { credentials, options } = clientSecurity({});
      const c = new device.DeviceControllerClient(server.address, credentials, options);
      try {
        const started = Date.now();
        await assert.rejects(
          unaryCall((o, cb) => c.setPowerMode(device.SetPowerModeRequest.fromPartial({}), new grpc.Metadata(), o, cb), 5000),
          (err: grpc.ServiceError) => {
            assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
            assert.equal(errorField(err), 'settleS');
            assert.ok(Buffer.byteLength(err.details) <= MAX_STATUS_MESSAGE_BYTES);
            return true;
          },
        );
        assert.ok(Date.now() - started < 2000, `answered after ${Date.now() - started} ms`);
        const info = await unaryCall<device.GetDeviceInfoResponse>((o, cb) => c.getDeviceInfo({}, new grpc.Metadata(), o, cb), 2000);
        assert.equal(info.info?.device, 'orin-agx');
      } finally {
        c.close();
      }
    });
  });
});
