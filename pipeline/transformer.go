package pipeline

import (
	"fmt"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/registry"
	"github.com/cxone-bridge/bridge/transform"
)

// NewTransformer builds the transformer of cfg's routes and, when a route
// reads a schema registry format, the registry decoder it uses (nil
// otherwise). Building sends no request: schemas are fetched on first use.
func NewTransformer(cfg *config.Config) (*transform.Transformer, *registry.Decoder, error) {
	tc := cfg.TransformConfig()
	var dec *registry.Decoder
	if cfg.UsesRegistry() {
		rc, err := cfg.RegistryConfig()
		if err != nil {
			return nil, nil, err
		}
		if dec, err = registry.New(rc); err != nil {
			return nil, nil, fmt.Errorf("schema_registry: %w", err)
		}
		tc.Decoder = dec
	}
	tr, err := transform.New(tc)
	if err != nil {
		return nil, nil, err
	}
	return tr, dec, nil
}
