package pipeline

import (
	"errors"
	"fmt"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/registry"
	"github.com/cxone-bridge/bridge/transform"
)

// NewTransformer builds the transformer of cfg's routes and, when a route
// reads a schema registry format, the registry decoder it uses (nil
// otherwise). Building sends no request: schemas are fetched on first use.
// Routes that do not compile (a schema file that is not JSON or not a
// schema, an expression that does not compile) are a [*config.Error]
// naming cfg's file, a problem per route, as the loader's own problems are.
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
	var ne *transform.NewError
	if errors.As(err, &ne) {
		ce := &config.Error{File: cfg.Path}
		for _, p := range ne.Problems {
			ce.Problems = append(ce.Problems, config.Problem{Msg: p.Error()})
		}
		return nil, nil, ce
	}
	if err != nil {
		return nil, nil, err
	}
	return tr, dec, nil
}
