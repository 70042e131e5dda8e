import { Buffer } from 'node:buffer';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { v5 as uuidv5 } from 'uuid';

// Configuration
const CXONE_REGION = 'api-us-1.cxone.com';
const OAUTH_TOKEN_URL = `https://${CXONE_REGION}/oauth/token`;
const EVENTBRIDGE_ENDPOINT = `https://${CXONE_REGION}/api/v2/eventbridge/events`;
const CLIENT_ID = process.env.CXONE_CLIENT_ID || 'your-client-id';
const CLIENT_SECRET = process.env.CXONE_CLIENT_SECRET || 'your-client-secret';

// Token Cache
let cachedToken = null;
let tokenExpiry = 0;

async function getAccessToken() {
  if (cachedToken && Date.now() < tokenExpiry) {
    return cachedToken;
  }
  const credentials = Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64');
  const response = await fetch(OAUTH_TOKEN_URL, {
    method: 'POST',
    headers: {
      'Authorization': `Basic ${credentials}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope: 'eventbridge:events:write',
    }),
  });
  if (!response.ok) {
    const errorBody = await response.text();
    throw new Error(`OAuth token fetch failed with status ${response.status}: ${errorBody}`);
  }
  const data = await response.json();
  cachedToken = data.access_token;
  tokenExpiry = Date.now() + (data.expires_in * 1000) - 5000;
  return cachedToken;
}

// Schema Validation
const ajv = new Ajv({ strict: true, allErrors: true });
addFormats(ajv);

const orderEventSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['orderId', 'customerId', 'totalAmount', 'currency', 'timestamp'],
  properties: {
    orderId: { type: 'string', pattern: '^ORD-[0-9]{10}$' },
    customerId: { type: 'string', minLength: 1 },
    totalAmount: { type: 'number', minimum: 0 },
    currency: { type: 'string', pattern: '^[A-Z]{3}$' },
    timestamp: { type: 'string', format: 'date-time' },
    metadata: { type: 'object', additionalProperties: true }
  },
  additionalProperties: false
};

const validateOrderEvent = ajv.compile(orderEventSchema);

function validateAndSerialize(domainObject) {
  const isValid = validateOrderEvent(domainObject);
  if (!isValid) {
    const errors = validateOrderEvent.errors.map(e => `${e.instancePath}: ${e.message}`).join('; ');
    throw new Error(`Schema validation failed: ${errors}`);
  }
  return domainObject;
}

// Tracing and Idempotency
const NAMESPACE_DNS = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';

function generateIdempotencyKey(eventType, businessKey) {
  return uuidv5(`${eventType}:${businessKey}`, NAMESPACE_DNS);
}

function attachTracingMetadata(payload, correlationId) {
  const attributes = payload.attributes || {};
  attributes._correlationId = correlationId;
  attributes._publishedAt = new Date().toISOString();
  return { ...payload, attributes };
}

// EventBridge Publisher
async function publishEvent(eventPayload, idempotencyKey, correlationId, maxRetries = 3) {
  const token = await getAccessToken();
  const headers = {
    'Authorization': `Bearer ${token}`,
    'Content-Type': 'application/json',
    'X-Idempotency-Key': idempotencyKey,
    'X-Correlation-Id': correlationId,
  };

  let lastError = null;
  for (let attempt = 0; attempt <= maxRetries; attempt++) {
    try {
      const response = await fetch(EVENTBRIDGE_ENDPOINT, {
        method: 'POST',
        headers,
        body: JSON.stringify(eventPayload),
      });

      const responseBody = await response.json();

      if (response.status === 429) {
        const retryAfter = parseInt(response.headers.get('Retry-After') || '5', 10);
        lastError = new Error(`Rate limited. Retry-After: ${retryAfter}s`);
        await new Promise(resolve => setTimeout(resolve, retryAfter * 1000));
        continue;
      }

      if (!response.ok) {
        throw new Error(`HTTP ${response.status}: ${JSON.stringify(responseBody)}`);
      }

      return {
        success: true,
        eventId: responseBody.id,
        status: response.status,
        correlationId,
      };
    } catch (error) {
      lastError = error;
      if (attempt < maxRetries && (error.message.includes('429') || error.message.includes('fetch failed'))) {
        const backoff = Math.min(2 ** attempt * 1000, 10000);
        await new Promise(resolve => setTimeout(resolve, backoff));
        continue;
      }
      throw lastError;
    }
  }
  throw lastError;
}

// Execution
async function main() {
  try {
    const domainObject = {
      orderId: 'ORD-1234567890',
      customerId: 'CUST-998877',
      totalAmount: 150.75,
      currency: 'USD',
      timestamp: new Date().toISOString(),
      metadata: { source: 'checkout-api', version: '2.1' }
    };

    const validated = validateAndSerialize(domainObject);
    const correlationId = 'trace-abc-123-xyz';
    const idempotencyKey = generateIdempotencyKey('OrderCreated', validated.orderId);

    const eventPayload = attachTracingMetadata({
      eventType: 'OrderCreated',
      attributes: validated,
      timestamp: validated.timestamp
    }, correlationId);

    console.log('Publishing event to CXone EventBridge...');
    const result = await publishEvent(eventPayload, idempotencyKey, correlationId);
    console.log('Event published successfully:', result);
  } catch (error) {
    console.error('Failed to publish event:', error.message);
    process.exit(1);
  }
}

main();
