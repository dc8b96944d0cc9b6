#!/usr/bin/python3
"""Writes the Keras fixtures of test/unit/keras.test.ts without Keras: small models in the layouts Keras
writes (read from keras-team's saving code: keras/src/saving/saving_lib.py for `.keras`,
keras/src/legacy/saving/legacy_h5_format.py for `.h5`), with weights chosen here, and their outputs
computed in numpy (expected.json). The layout code is keras_writer.py's (shared with write_example.py).

  Keras 3 `.keras`: a zip (entries stored) of metadata.json, config.json, model.weights.h5; the weights
    follow the object tree, `layers/<snake_case class name, numbered per container>/vars/<i>`.
  `.h5` (Keras 2 / tf.keras, and Keras 3's legacy writer): root attributes keras_version, backend,
    model_config (JSON); group model_weights (attribute layer_names) with a group per top-level layer
    (attribute weight_names) holding datasets such as `conv2d/kernel:0`.

Run with Debian's python (python3-h5py, numpy):  /usr/bin/python3 scripts/keras/write_keras_fixtures.py
"""
import io
import json
import os
import struct
import zipfile

import h5py
import numpy as np

from keras_writer import (bn_cfg, call, conv_cfg, dense_cfg, functional, k3, k3_input, keras2_name, keras_archive, kt,
                          legacy_h5, save_names, sequential, zip_entry)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'keras')
rng = np.random.default_rng(20261206)


def rand(*shape, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ---------------------------------------------------------------- numpy forward pass

def conv2d(x, k, b, padding):
    kh, kw = k.shape[:2]
    if padding == 'same':
        ph, pw = (kh - 1) // 2, (kw - 1) // 2
        x = np.pad(x, ((0, 0), (ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)))
    n, h, w, _ = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    out = np.zeros((n, oh, ow, k.shape[3]))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum('nhwc,co->nhwo', x[:, i:i + oh, j:j + ow, :], k[i, j].astype(np.float64))
    return out + b


def batchnorm(x, gamma, beta, mean, var, eps=1e-3):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def maxpool2(x):
    n, h, w, c = x.shape
    return x[:, :h // 2 * 2, :w // 2 * 2, :].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def relu(x):
    return np.maximum(x, 0)


def silu(x):
    return x / (1 + np.exp(-x))


# ---------------------------------------------------------------- model A: plain CNN

A = {
    'conv_k': rand(3, 3, 1, 4), 'conv_b': rand(4, scale=0.1),
    'gamma': (1 + rand(4, scale=0.2)), 'beta': rand(4, scale=0.1), 'mean': rand(4, scale=0.2), 'var': (0.5 + np.abs(rand(4))),
    'dense_k': rand(64, 3, scale=0.3), 'dense_b': rand(3, scale=0.1),
}


def cnn_forward(x):
    h = relu(conv2d(x, A['conv_k'], A['conv_b'], 'same'))
    h = batchnorm(h, A['gamma'], A['beta'], A['mean'], A['var'])
    h = maxpool2(h).reshape(len(x), -1)
    return softmax(h @ A['dense_k'].astype(np.float64) + A['dense_b'])


def write_cnn():
    layers = [
        k3_input('input_layer', [8, 8, 1], functional=False),
        k3('Conv2D', 'conv2d', conv_cfg(4, 3, 'same', 'relu'), [None, 8, 8, 1]),
        k3('BatchNormalization', 'batch_normalization', bn_cfg(), [None, 8, 8, 4]),
        k3('MaxPooling2D', 'max_pooling2d', {'pool_size': [2, 2], 'padding': 'valid', 'strides': [2, 2], 'data_format': 'channels_last'}),
        k3('Flatten', 'flatten', {'data_format': 'channels_last'}),
        k3('Dense', 'dense', dense_cfg(3, 'softmax'), [None, 64]),
    ]
    config = sequential('sequential', layers, [8, 8, 1])
    weights = [('layers/conv2d', 'conv2d', [A['conv_k'], A['conv_b']]),
               ('layers/batch_normalization', 'batch_normalization', [A['gamma'], A['beta'], A['mean'], A['var']]),
               ('layers/max_pooling2d', 'max_pooling2d', []), ('layers/flatten', 'flatten', []),
               ('layers/dense', 'dense', [A['dense_k'], A['dense_b']])]
    keras_archive(os.path.join(OUT, 'cnn.keras'), config, weights, '3.8.0')

    # Bad twins: a missing weight, a weight of the wrong shape.
    missing = [w if w[0] != 'layers/dense' else (w[0], w[1], [A['dense_k']]) for w in weights]
    keras_archive(os.path.join(OUT, 'missing_weight.keras'), config, missing, '3.8.0')
    wrong = [w if w[0] != 'layers/conv2d' else (w[0], w[1], [rand(3, 3, 1, 5), A['conv_b']]) for w in weights]
    keras_archive(os.path.join(OUT, 'wrong_shape.keras'), config, wrong, '3.8.0')

    # Keras 2 / tf.keras .h5 of the same model.
    k2_layers = [
        {'class_name': 'InputLayer', 'config': {'batch_input_shape': [None, 8, 8, 1], 'dtype': 'float32', 'sparse': False, 'ragged': False, 'name': 'conv2d_input'}},
        {'class_name': 'Conv2D', 'config': {'name': 'conv2d', 'trainable': True, 'dtype': 'float32', **{k: v for k, v in conv_cfg(4, 3, 'same', 'relu').items() if k != 'groups'},
                                             'kernel_initializer': {'class_name': 'GlorotUniform', 'config': {'seed': None}}, 'bias_initializer': {'class_name': 'Zeros', 'config': {}}}},
        {'class_name': 'BatchNormalization', 'config': {'name': 'batch_normalization', 'trainable': True, 'dtype': 'float32', 'axis': [3], 'momentum': 0.99, 'epsilon': 0.001,
                                                         'center': True, 'scale': True, 'beta_initializer': {'class_name': 'Zeros', 'config': {}}}},
        {'class_name': 'MaxPooling2D', 'config': {'name': 'max_pooling2d', 'trainable': True, 'dtype': 'float32', 'pool_size': [2, 2], 'padding': 'valid', 'strides': [2, 2], 'data_format': 'channels_last'}},
        {'class_name': 'Flatten', 'config': {'name': 'flatten', 'trainable': True, 'dtype': 'float32', 'data_format': 'channels_last'}},
        {'class_name': 'Dense', 'config': {'name': 'dense', 'trainable': True, 'dtype': 'float32', 'units': 3, 'activation': 'softmax', 'use_bias': True,
                                            'kernel_initializer': {'class_name': 'GlorotUniform', 'config': {'seed': None}}}},
    ]
    k2_config = {'class_name': 'Sequential', 'config': {'name': 'sequential', 'layers': k2_layers}}
    k2_weights = [('conv2d', [('conv2d/kernel', A['conv_k']), ('conv2d/bias', A['conv_b'])]),
                  ('batch_normalization', [('batch_normalization/gamma', A['gamma']), ('batch_normalization/beta', A['beta']),
                                           ('batch_normalization/moving_mean', A['mean']), ('batch_normalization/moving_variance', A['var'])]),
                  ('max_pooling2d', []), ('flatten', []),
                  ('dense', [('dense/kernel', A['dense_k']), ('dense/bias', A['dense_b'])])]
    legacy_h5(os.path.join(OUT, 'cnn.h5'), k2_config, k2_weights, '2.15.0', keras2_name)
    legacy_h5(os.path.join(OUT, 'wrong_shape.h5'), k2_config,
              [w if w[0] != 'dense' else ('dense', [('dense/kernel', rand(64, 4)), ('dense/bias', A['dense_b'])]) for w in k2_weights], '2.15.0', keras2_name)
    legacy_h5(os.path.join(OUT, 'missing_weight.h5'), k2_config,
              [w if w[0] != 'batch_normalization' else (w[0], w[1][:3]) for w in k2_weights], '2.15.0', keras2_name)
    # Keras 3's legacy .h5 writer: legacy layer objects, no ":0" in weight names.
    k3_legacy = {'class_name': 'Sequential', 'config': {**config['config'], 'layers': [
        {'class_name': l['class_name'], 'config': {**l['config'], **({'dtype': {'class_name': 'DTypePolicy', 'config': {'name': 'float32'}}} if 'trainable' in l['config'] else {})}}
        for l in layers]}}
    legacy_h5(os.path.join(OUT, 'cnn_keras3.h5'), k3_legacy, k2_weights, '3.8.0', lambda n: n)

    # Weights only (model.save_weights("w.h5") in Keras 2): the root holds layer_names, no model_config.
    with h5py.File(os.path.join(OUT, 'weights_only.h5'), 'w') as f:
        save_names(f, 'layer_names', [n for n, _ in k2_weights])
        f.attrs['backend'] = b'tensorflow'
        f.attrs['keras_version'] = b'2.15.0'
        for lname, ws in k2_weights:
            lg = f.create_group(lname)
            save_names(lg, 'weight_names', [keras2_name(n) for n, _ in ws])
            for n, a in ws:
                lg[keras2_name(n)] = a

    # The same model as a TF.js Layers folder (what tensorflowjs_converter writes).
    tfjs_dir = os.path.join(OUT, 'cnn-tfjs')
    os.makedirs(tfjs_dir, exist_ok=True)
    specs, blobs = [], []
    for _, ws in k2_weights:
        for n, a in ws:
            specs.append({'name': n, 'shape': list(a.shape), 'dtype': 'float32'})
            blobs.append(a.astype('<f4').tobytes())
    with open(os.path.join(tfjs_dir, 'group1-shard1of1.bin'), 'wb') as fh:
        fh.write(b''.join(blobs))
    with open(os.path.join(tfjs_dir, 'model.json'), 'w') as fh:
        json.dump({'format': 'layers-model', 'generatedBy': 'keras v2.15.0', 'convertedBy': 'TensorFlow.js Converter v4.22.0',
                   'modelTopology': {'keras_version': '2.15.0', 'backend': 'tensorflow', 'model_config': k2_config},
                   'weightsManifest': [{'paths': ['group1-shard1of1.bin'], 'weights': specs}]}, fh)
    return cnn_forward


# ---------------------------------------------------------------- model B: nested models, BN without scale

B = {
    'conv_k': rand(3, 3, 3, 4), 'conv_b': rand(4, scale=0.1), 'beta': rand(4, scale=0.1), 'mean': rand(4, scale=0.2), 'var': 0.5 + np.abs(rand(4)),
    'head_k': rand(1, 1, 4, 4), 'head_b': rand(4, scale=0.1), 'dense_k': rand(4, 2), 'dense_b': rand(2, scale=0.1),
}


def nested_forward(x):
    h = conv2d(x, B['conv_k'], B['conv_b'], 'valid')
    h = relu(batchnorm(h, 1.0, B['beta'], B['mean'], B['var']))
    h = h + conv2d(h, B['head_k'], B['head_b'], 'valid')
    h = h.mean(axis=(1, 2))
    return softmax(h @ B['dense_k'].astype(np.float64) + B['dense_b'])


def write_nested():
    block = sequential('block', [
        k3_input('block_input', [8, 8, 3], functional=False),
        k3('Conv2D', 'block_conv', conv_cfg(4, 3, 'valid', 'linear'), [None, 8, 8, 3]),
        k3('BatchNormalization', 'block_bn', bn_cfg(scale=False), [None, 6, 6, 4]),
        k3('ReLU', 'block_relu', {'max_value': None, 'negative_slope': 0.0, 'threshold': 0.0}),
    ], [8, 8, 3])
    head = functional('head', [
        k3_input('head_input', [6, 6, 4]),
        k3('Conv2D', 'head_conv', conv_cfg(4, 1, 'valid', 'linear'), [None, 6, 6, 4], call(kt('head_input', [6, 6, 4]))),
        k3('Add', 'add', {}, [[None, 6, 6, 4], [None, 6, 6, 4]], call([kt('head_input', [6, 6, 4]), kt('head_conv', [6, 6, 4])])),
        k3('GlobalAveragePooling2D', 'gap', {'data_format': 'channels_last', 'keepdims': False}, [None, 6, 6, 4], call(kt('add', [6, 6, 4]))),
    ], [['head_input', 0, 0]], [['gap', 0, 0]])
    block.update({'name': 'block', 'inbound_nodes': call(kt('image', [8, 8, 3]))})
    head.update({'name': 'head', 'inbound_nodes': call(kt('block', [6, 6, 4]))})
    config = functional('nested', [
        k3_input('image', [8, 8, 3]), block, head,
        k3('Dense', 'predictions', dense_cfg(2, 'softmax'), [None, 4], call(kt('head', [4], node=1))),
    ], ['image', 0, 0], ['predictions', 0, 0])
    # Paths name layers by class, numbered per container (not by layer name); Keras 3.5 records no names.
    weights = [('layers/sequential/layers/conv2d', 'block_conv', [B['conv_k'], B['conv_b']]),
               ('layers/sequential/layers/batch_normalization', 'block_bn', [B['beta'], B['mean'], B['var']]),
               ('layers/sequential/layers/re_lu', 'block_relu', []),
               ('layers/functional/layers/conv2d', 'head_conv', [B['head_k'], B['head_b']]),
               ('layers/dense', 'predictions', [B['dense_k'], B['dense_b']])]
    keras_archive(os.path.join(OUT, 'nested.keras'), config, weights, '3.5.0', names=False)

    # tf.keras 2 .h5: nested models' groups hold their layers' weights, trainable ones first.
    def k2(cls, name, cfg):
        return {'class_name': cls, 'config': {'name': name, 'trainable': True, 'dtype': 'float32', **cfg}}
    plain = lambda c: {k: v for k, v in c.items() if not isinstance(v, dict) and k not in ('groups', 'synchronized', 'quantization_config')}
    k2_block = {'class_name': 'Sequential', 'name': 'block', 'inbound_nodes': [[['image', 0, 0, {}]]], 'config': {'name': 'block', 'layers': [
        {'class_name': 'InputLayer', 'config': {'batch_input_shape': [None, 8, 8, 3], 'dtype': 'float32', 'sparse': False, 'ragged': False, 'name': 'block_input'}},
        k2('Conv2D', 'block_conv', plain(conv_cfg(4, 3, 'valid', 'linear'))), k2('BatchNormalization', 'block_bn', plain(bn_cfg(scale=False))),
        k2('ReLU', 'block_relu', {'max_value': None, 'negative_slope': 0.0, 'threshold': 0.0})]}}
    k2_head = {'class_name': 'Functional', 'name': 'head', 'inbound_nodes': [[['block', 1, 0, {}]]], 'config': {'name': 'head', 'layers': [
        {'class_name': 'InputLayer', 'name': 'head_input', 'inbound_nodes': [], 'config': {'batch_input_shape': [None, 6, 6, 4], 'dtype': 'float32', 'sparse': False, 'ragged': False, 'name': 'head_input'}},
        {**k2('Conv2D', 'head_conv', plain(conv_cfg(4, 1, 'valid', 'linear'))), 'name': 'head_conv', 'inbound_nodes': [[['head_input', 0, 0, {}]]]},
        {**k2('Add', 'add', {}), 'name': 'add', 'inbound_nodes': [[['head_input', 0, 0, {}], ['head_conv', 0, 0, {}]]]},
        {**k2('GlobalAveragePooling2D', 'gap', {'data_format': 'channels_last', 'keepdims': False}), 'name': 'gap', 'inbound_nodes': [[['add', 0, 0, {}]]]}],
        'input_layers': [['head_input', 0, 0]], 'output_layers': [['gap', 0, 0]]}}
    k2_config = {'class_name': 'Functional', 'config': {'name': 'nested', 'layers': [
        {'class_name': 'InputLayer', 'name': 'image', 'inbound_nodes': [], 'config': {'batch_input_shape': [None, 8, 8, 3], 'dtype': 'float32', 'sparse': False, 'ragged': False, 'name': 'image'}},
        k2_block, k2_head,
        {**k2('Dense', 'predictions', {'units': 2, 'activation': 'softmax', 'use_bias': True}), 'name': 'predictions', 'inbound_nodes': [[['head', 1, 0, {}]]]}],
        'input_layers': [['image', 0, 0]], 'output_layers': [['predictions', 0, 0]]}}
    k2_weights = [('image', []),
                  ('block', [('block_conv/kernel', B['conv_k']), ('block_conv/bias', B['conv_b']), ('block_bn/beta', B['beta']),
                             ('block_bn/moving_mean', B['mean']), ('block_bn/moving_variance', B['var'])]),
                  ('head', [('head_conv/kernel', B['head_k']), ('head_conv/bias', B['head_b'])]),
                  ('predictions', [('predictions/kernel', B['dense_k']), ('predictions/bias', B['dense_b'])])]
    legacy_h5(os.path.join(OUT, 'nested.h5'), k2_config, k2_weights, '2.15.0', keras2_name)
    return nested_forward


# ---------------------------------------------------------------- model C: Keras 3 preprocessing inside the model

C = {'norm_mean': np.array([0.4, 0.5, 0.6], np.float32), 'norm_var': np.array([0.04, 0.09, 0.16], np.float32),
     'conv_k': rand(3, 3, 3, 2), 'conv_b': rand(2, scale=0.1), 'dense_k': rand(2, 3), 'dense_b': rand(3, scale=0.1)}


def preprocess_forward(x):
    h = x / 255.0
    h = (h - C['norm_mean']) / np.maximum(np.sqrt(C['norm_var'].astype(np.float64)), 1e-7)
    h = silu(conv2d(h, C['conv_k'], C['conv_b'], 'same')).mean(axis=(1, 2))
    return softmax(h @ C['dense_k'].astype(np.float64) + C['dense_b'])


def write_preprocess():
    s = [None, 8, 8, 3]
    rnd = lambda cls, name, cfg: k3(cls, name, {'seed': None, 'data_format': 'channels_last', **cfg}, s)
    augment = sequential('augment', [
        k3_input('augment_input', [8, 8, 3], functional=False),
        rnd('RandomFlip', 'random_flip', {'mode': 'horizontal'}),
        rnd('RandomRotation', 'random_rotation', {'factor': [-0.1, 0.1], 'fill_mode': 'reflect', 'interpolation': 'bilinear', 'fill_value': 0.0}),
        rnd('RandomZoom', 'random_zoom', {'height_factor': [-0.1, 0.1], 'width_factor': None, 'fill_mode': 'reflect', 'interpolation': 'bilinear', 'fill_value': 0.0}),
        rnd('RandomContrast', 'random_contrast', {'factor': [0.2, 0.2], 'value_range': [0, 255]}),
        rnd('RandomTranslation', 'random_translation', {'height_factor': [-0.1, 0.1], 'width_factor': [-0.1, 0.1], 'fill_mode': 'reflect', 'interpolation': 'bilinear', 'fill_value': 0.0}),
    ], [8, 8, 3])
    prep = sequential('prep', [
        k3_input('prep_input', [8, 8, 3], functional=False),
        k3('Resizing', 'resizing', {'height': 8, 'width': 8, 'interpolation': 'bilinear', 'crop_to_aspect_ratio': False, 'pad_to_aspect_ratio': False,
                                    'fill_mode': 'constant', 'fill_value': 0.0, 'antialias': False, 'data_format': 'channels_last'}, s),
        k3('Rescaling', 'rescaling', {'scale': 1 / 255, 'offset': 0.0}, s),
        k3('Normalization', 'normalization', {'axis': [-1], 'invert': False, 'mean': None, 'variance': None}, s),
    ], [8, 8, 3])
    augment.update({'name': 'augment', 'inbound_nodes': call(kt('image', [8, 8, 3]))})
    prep.update({'name': 'prep', 'inbound_nodes': call(kt('augment', [8, 8, 3]))})
    config = functional('preprocess', [
        k3_input('image', [8, 8, 3]), augment, prep,
        k3('Conv2D', 'conv', conv_cfg(2, 3, 'same', 'silu'), s, call(kt('prep', [8, 8, 3]))),
        k3('GlobalAveragePooling2D', 'gap', {'data_format': 'channels_last', 'keepdims': False}, [None, 8, 8, 2], call(kt('conv', [8, 8, 2]))),
        k3('Dense', 'probs', dense_cfg(3, 'softmax'), [None, 2], call(kt('gap', [2]))),
    ], [['image', 0, 0]], [['probs', 0, 0]])
    state = np.array([0, 1234], np.uint32)
    weights = [('layers/sequential/layers/' + n, n, []) for n in ['random_flip', 'random_rotation', 'random_zoom', 'random_contrast', 'random_translation']]
    weights += [('layers/sequential/layers/%s/seed_generator' % n, 'seed_generator', [state]) for n in ['random_flip', 'random_rotation']]
    weights += [('layers/sequential_1/layers/resizing', 'resizing', []), ('layers/sequential_1/layers/rescaling', 'rescaling', []),
                ('layers/sequential_1/layers/normalization', 'normalization', [C['norm_mean'], C['norm_var'], np.int64(12)]),
                ('layers/conv2d', 'conv', [C['conv_k'], C['conv_b']]), ('layers/global_average_pooling2d', 'gap', []),
                ('layers/dense', 'probs', [C['dense_k'], C['dense_b']])]
    keras_archive(os.path.join(OUT, 'preprocess.keras'), config, weights, '3.8.0')
    return preprocess_forward


# ---------------------------------------------------------------- refused files

def write_refused():
    lam = functional('with_lambda', [
        k3_input('input_layer', [4]),
        k3('Lambda', 'lambda_1', {'function': {'class_name': '__lambda__', 'config': {'value': ['4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMIAAAAfABkARQAUwApAk7pAgAAAKkAKQHaAXhyAgAAAHICAAAA+gg8c3RkaW4+2gg8bGFtYmRhPgEAAABzAgAAAAgA', None, None]}},
                                  'arguments': {}, 'output_shape': None}, [None, 4], call(kt('input_layer', [4]))),
        k3('Dense', 'dense', dense_cfg(2, 'linear'), [None, 4], call(kt('lambda_1', [4]))),
    ], [['input_layer', 0, 0]], [['dense', 0, 0]])
    keras_archive(os.path.join(OUT, 'lambda.keras'), lam, [('layers/dense', 'dense', [rand(4, 2), rand(2)])], '3.8.0')
    with h5py.File(os.path.join(OUT, 'lambda.h5'), 'w') as f:
        f.attrs['keras_version'] = '2.15.0'
        f.attrs['backend'] = 'tensorflow'
        f.attrs['model_config'] = json.dumps({'class_name': 'Sequential', 'config': {'name': 'sequential', 'layers': [
            {'class_name': 'InputLayer', 'config': {'batch_input_shape': [None, 4], 'dtype': 'float32', 'name': 'input_1'}},
            {'class_name': 'Lambda', 'config': {'name': 'lambda', 'trainable': True, 'dtype': 'float32', 'function': ['4wEAAAAA', None, None],
                                                'function_type': 'lambda', 'module': '__main__', 'output_shape': None, 'arguments': {}}}]}}).encode('utf8')
        g = f.create_group('model_weights')
        save_names(g, 'layer_names', ['lambda'])
        save_names(g.create_group('lambda'), 'weight_names', [])

    custom = functional('with_custom', [
        k3_input('input_layer', [4]),
        k3('SwishGate', 'swish_gate', {'units': 4}, [None, 4], call(kt('input_layer', [4])), module='my_package.layers', registered='MyPackage>SwishGate'),
    ], [['input_layer', 0, 0]], [['swish_gate', 0, 0]])
    keras_archive(os.path.join(OUT, 'custom.keras'), custom, [('layers/swish_gate', 'swish_gate', [rand(4, 4)])], '3.8.0')


# ---------------------------------------------------------------- unsafe archives

def patch_sizes(data, name, new_size):
    """Rewrites the declared uncompressed size of `name` in its local and central headers."""
    data = bytearray(data)
    enc = name.encode()
    for sig, size_at, name_len_at, name_at in ((b'PK\x03\x04', 22, 26, 30), (b'PK\x01\x02', 24, 28, 46)):
        i = data.find(sig)
        while i >= 0:
            n = struct.unpack_from('<H', data, i + name_len_at)[0]
            if bytes(data[i + name_at:i + name_at + n]) == enc:
                struct.pack_into('<I', data, i + size_at, new_size)
            i = data.find(sig, i + 4)
    return bytes(data)


def write_unsafe():
    with open(os.path.join(OUT, 'cnn.keras'), 'rb') as fh:
        good = fh.read()
    src = zipfile.ZipFile(io.BytesIO(good))
    entries = [(i.filename, src.read(i.filename)) for i in src.infolist()]

    def rezip(path, extra, compress=None):
        with zipfile.ZipFile(path, 'w') as zf:
            for n, d in entries:
                zf.writestr(zip_entry(n), d)
            for n, d in extra:
                zf.writestr(zipfile.ZipInfo(n), d, compress_type=compress)
    rezip(os.path.join(OUT, 'zip_slip.keras'), [('../../evil.txt', b'outside')])
    rezip(os.path.join(OUT, 'zip_bomb.keras'), [('assets/zeros.bin', bytes(64 * 1024 ** 2))], zipfile.ZIP_DEFLATED)
    # Declared sizes that lie: model.weights.h5 says 100 bytes but holds more.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as zf:
        for n, d in entries:
            zf.writestr(zip_entry(n), d, compress_type=zipfile.ZIP_DEFLATED)
    with open(os.path.join(OUT, 'zip_lie.keras'), 'wb') as fh:
        fh.write(patch_sizes(buf.getvalue(), 'model.weights.h5', 100))


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {}
    for name, forward, shape, scale in (('cnn', write_cnn(), (2, 8, 8, 1), 1.0), ('nested', write_nested(), (2, 8, 8, 3), 1.0),
                                        ('preprocess', write_preprocess(), (2, 8, 8, 3), 255.0)):
        x = (rng.random(shape) * scale).astype(np.float32)
        expected[name] = {'input': x.ravel().tolist(), 'shape': list(shape), 'output': forward(x.astype(np.float64)).ravel().tolist()}
    write_refused()
    write_unsafe()
    with open(os.path.join(OUT, 'expected.json'), 'w') as fh:
        json.dump(expected, fh)
    print('wrote', sorted(os.listdir(OUT)))


if __name__ == '__main__':
    main()
