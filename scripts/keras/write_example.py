#!/usr/bin/python3
"""Writes the bundled example CNN (examples/mnist-cnn, a TF.js Layers model trained by scripts/train-example.ts) in
both Keras formats with our own writer (keras_writer.py), the weights read from its model.json + shard with numpy:

  examples/mnist-cnn-keras/model.keras   Keras 3 layout (zip of config.json, model.weights.h5, metadata.json)
  examples/mnist-cnn-keras/model.h5      Keras 2 / tf.keras layout (model_config + model_weights)
  examples/mnist-cnn-keras/labels.txt, saliency-lens.json   copied from examples/mnist-cnn

and, for the watch-mode E2E test, a "next checkpoint" of the same model with different weights (the Dense layer's
weights from every other input times 0.6, so the maps change shape, not only scale):

  test/fixtures/keras/mnist-cnn-checkpoint.keras

Reruns write identical bytes. Run with Debian's python (python3-h5py, numpy):
  /usr/bin/python3 scripts/keras/write_example.py [OUT_DIR CHECKPOINT_FILE]
(the optional paths replace the two above: test/unit/demo.test.ts writes into a temp folder and compares.)
"""
import json
import os
import shutil
import sys

import numpy as np

from keras_writer import (conv_cfg, dense_cfg, init, k3, k3_input, keras2_name, keras_archive, legacy_h5, pool_cfg, sequential,
                          weight_paths)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
SOURCE = os.path.join(ROOT, 'examples', 'mnist-cnn')
OUT = os.path.join(ROOT, 'examples', 'mnist-cnn-keras')
CHECKPOINT = os.path.join(ROOT, 'test', 'fixtures', 'keras', 'mnist-cnn-checkpoint.keras')
SIDECARS = ['labels.txt', 'saliency-lens.json']
KERAS3_VERSION = '3.8.0'
KERAS2_VERSION = '2.15.0'


def read_tfjs(folder):
    """model.json's layers and its weights by name (float32 only: what the example holds)."""
    with open(os.path.join(folder, 'model.json')) as fh:
        model = json.load(fh)
    topology = model['modelTopology']
    topology = topology.get('model_config', topology)
    if topology['class_name'] != 'Sequential':
        sys.exit('write_example.py: expected a Sequential TF.js Layers model, found %s' % topology['class_name'])
    weights = {}
    for group in model['weightsManifest']:
        data = b''.join(open(os.path.join(folder, p), 'rb').read() for p in group['paths'])
        offset = 0
        for spec in group['weights']:
            if spec['dtype'] != 'float32' or 'quantization' in spec:
                sys.exit('write_example.py: weight %s is not plain float32' % spec['name'])
            count = int(np.prod(spec['shape'], dtype=np.int64))
            weights[spec['name']] = np.frombuffer(data, '<f4', count, offset).reshape(spec['shape']).copy()
            offset += count * 4
        if offset != len(data):
            sys.exit('write_example.py: shards of %s hold %d bytes, the manifest %d' % (folder, len(data), offset))
    return topology['config'], weights


def layer_weights(cls, name, weights):
    """(short name, array) pairs of a layer in Keras's order."""
    names = {'Conv2D': ['kernel', 'bias'], 'Dense': ['kernel', 'bias']}.get(cls, [])
    return [(n, weights['%s/%s' % (name, n)]) for n in names]


def keras3_layer(layer, shape):
    """The Keras 3 config object of one tfjs layer, and its output shape (without batch)."""
    cls, c = layer['class_name'], layer['config']
    name = c['name']
    seed = (c.get('kernel_initializer') or {}).get('config', {}).get('seed')
    if cls == 'Conv2D':
        if c['padding'] != 'valid' or list(c['strides']) != [1, 1]:
            sys.exit('write_example.py: only valid, stride-1 convolutions are written')
        cfg = conv_cfg(c['filters'], c['kernel_size'], c['padding'], c['activation'], c['strides'], c['dilation_rate'])
        cfg['kernel_initializer'] = init('GlorotUniform', {'seed': seed})
        kh, kw = c['kernel_size']
        out = [shape[0] - kh + 1, shape[1] - kw + 1, c['filters']]
    elif cls == 'MaxPooling2D':
        cfg = pool_cfg(c['pool_size'], c['strides'], c['padding'])
        out = [(shape[0] - c['pool_size'][0]) // c['strides'][0] + 1, (shape[1] - c['pool_size'][1]) // c['strides'][1] + 1, shape[2]]
    elif cls == 'Flatten':
        cfg = {'data_format': 'channels_last'}
        out = [int(np.prod(shape))]
    elif cls == 'Dense':
        cfg = dense_cfg(c['units'], c['activation'])
        cfg['kernel_initializer'] = init('GlorotUniform', {'seed': seed})
        out = [c['units']]
    else:
        sys.exit('write_example.py: layer class %s is not written yet' % cls)
    return k3(cls, name, cfg, [None, *shape] if cls in ('Conv2D', 'Dense') else None), out


def plain(cfg):
    """A Keras 3 layer config in Keras 2's schema: dtype a string, initializers without module."""
    out = {}
    for k, v in cfg.items():
        if k in ('quantization_config',):
            continue
        if isinstance(v, dict) and 'class_name' in v:
            v = {'class_name': v['class_name'], 'config': v['config']}
        out[k] = v
    out['dtype'] = 'float32'
    return out


def write(config, weights, keras_file, h5_file=None):
    """The model as a Keras 3 `.keras` file and, when h5_file is given, as a Keras 2 `.h5` file."""
    tf_layers = config['layers']
    shape = list(tf_layers[0]['config']['batch_input_shape'][1:])
    input_shape = list(shape)
    k3_layers = [k3_input('input_layer', input_shape, functional=False)]
    for layer in tf_layers:
        entry, shape = keras3_layer(layer, shape)
        k3_layers.append(entry)
    model = sequential(config['name'], k3_layers, input_shape)
    paths = weight_paths([l['class_name'] for l in tf_layers])
    k3_weights = [(p, l['config']['name'], [a for _, a in layer_weights(l['class_name'], l['config']['name'], weights)])
                  for p, l in zip(paths, tf_layers)]
    keras_archive(keras_file, model, k3_weights, KERAS3_VERSION)
    if h5_file:
        k2_layers = [{'class_name': 'InputLayer', 'config': {'batch_input_shape': [None, *input_shape], 'dtype': 'float32', 'sparse': False,
                                                             'ragged': False, 'name': '%s_input' % tf_layers[0]['config']['name']}}]
        k2_layers += [{'class_name': e['class_name'], 'config': plain(e['config'])} for e in k3_layers[1:]]
        k2_config = {'class_name': 'Sequential', 'config': {'name': config['name'], 'layers': k2_layers}}
        k2_weights = [(l['config']['name'], [('%s/%s' % (l['config']['name'], n), a) for n, a in layer_weights(l['class_name'], l['config']['name'], weights)])
                      for l in tf_layers]
        legacy_h5(h5_file, k2_config, k2_weights, KERAS2_VERSION, keras2_name)


def main():
    global OUT, CHECKPOINT
    if len(sys.argv) == 3:
        OUT, CHECKPOINT = sys.argv[1], sys.argv[2]
    elif len(sys.argv) != 1:
        sys.exit('usage: write_example.py [OUT_DIR CHECKPOINT_FILE]')
    config, weights = read_tfjs(SOURCE)
    os.makedirs(OUT, exist_ok=True)
    write(config, weights, os.path.join(OUT, 'model.keras'), os.path.join(OUT, 'model.h5'))
    for f in SIDECARS:
        shutil.copyfile(os.path.join(SOURCE, f), os.path.join(OUT, f))
    # The next "checkpoint": the same model with every other Dense weight scaled.
    dense = [l['config']['name'] for l in config['layers'] if l['class_name'] == 'Dense'][-1]
    changed = dict(weights)
    k = changed['%s/kernel' % dense].copy()
    k[1::2] *= np.float32(0.6)  # every other input of the Dense layer: the maps change shape, not only scale
    changed['%s/kernel' % dense] = k
    write(config, changed, CHECKPOINT)
    print('wrote', sorted(os.listdir(OUT)), 'and', os.path.relpath(CHECKPOINT, ROOT))


if __name__ == '__main__':
    main()
