"""Our own writer of Keras model files, without Keras: the layouts Keras writes, read from keras-team's saving
code (keras/src/saving/saving_lib.py for `.keras`, keras/src/legacy/saving/legacy_h5_format.py for `.h5`).
Shared by write_keras_fixtures.py (test fixtures) and write_example.py (the bundled example in both formats).

  Keras 3 `.keras`: a zip (entries stored) of metadata.json, config.json, model.weights.h5; the weights
    follow the object tree, `layers/<snake_case class name, numbered per container>/vars/<i>`.
  `.h5` (Keras 2 / tf.keras, and Keras 3's legacy writer): root attributes keras_version, backend,
    model_config (JSON); group model_weights (attribute layer_names) with a group per top-level layer
    (attribute weight_names) holding datasets such as `conv2d/kernel:0`.

Output is reproducible: zip entries carry a fixed timestamp and mode, metadata a fixed date, and h5py records
no object times (its default), so the same model writes the same bytes on every run.

Needs Debian's python (python3-h5py, numpy): /usr/bin/python3.
"""
import io
import json
import re
import zipfile

import h5py
import numpy as np

# The moment every archive claims it was saved: fixed so reruns write identical bytes.
SAVED_AT = (2026, 12, 6, 10, 0, 0)
DATE_SAVED = '2026-12-06@10:00:00'


# ---------------------------------------------------------------- Keras 3 config objects

def policy():
    return {'module': 'keras', 'class_name': 'DTypePolicy', 'config': {'name': 'float32'}, 'registered_name': None}


def init(cls, config=None):
    return {'module': 'keras.initializers', 'class_name': cls, 'config': config or {}, 'registered_name': None}


def k3(cls, name, config, build_shape=None, inbound=None, module='keras.layers', registered=None):
    d = {'module': module, 'class_name': cls,
         'config': {'name': name, 'trainable': True, 'dtype': policy(), **config}, 'registered_name': registered}
    if build_shape is not None:
        d['build_config'] = {'input_shape': build_shape}
    if inbound is not None:
        d['name'] = name
        d['inbound_nodes'] = inbound
    return d


def k3_input(name, shape, functional=True):
    d = {'module': 'keras.layers', 'class_name': 'InputLayer',
         'config': {'batch_shape': [None, *shape], 'dtype': 'float32', 'sparse': False, 'ragged': False, 'name': name, 'optional': False},
         'registered_name': None}
    if functional:
        d['name'] = name
        d['inbound_nodes'] = []
    return d


def kt(layer, shape, node=0, tensor=0):
    return {'class_name': '__keras_tensor__', 'config': {'shape': [None, *shape], 'dtype': 'float32', 'keras_history': [layer, node, tensor]}}


def call(*args, **kwargs):
    return [{'args': list(args), 'kwargs': kwargs}]


def conv_cfg(filters, k, padding, activation, strides=(1, 1), dilation=(1, 1)):
    return {'filters': filters, 'kernel_size': [k, k] if isinstance(k, int) else list(k), 'strides': list(strides), 'padding': padding,
            'data_format': 'channels_last', 'dilation_rate': list(dilation), 'groups': 1, 'activation': activation, 'use_bias': True,
            'kernel_initializer': init('GlorotUniform', {'seed': None}), 'bias_initializer': init('Zeros'),
            'kernel_regularizer': None, 'bias_regularizer': None, 'activity_regularizer': None, 'kernel_constraint': None, 'bias_constraint': None}


def bn_cfg(scale=True):
    return {'axis': -1, 'momentum': 0.99, 'epsilon': 0.001, 'center': True, 'scale': scale,
            'beta_initializer': init('Zeros'), 'gamma_initializer': init('Ones'), 'moving_mean_initializer': init('Zeros'),
            'moving_variance_initializer': init('Ones'), 'beta_regularizer': None, 'gamma_regularizer': None,
            'beta_constraint': None, 'gamma_constraint': None, 'synchronized': False}


def dense_cfg(units, activation):
    return {'units': units, 'activation': activation, 'use_bias': True, 'kernel_initializer': init('GlorotUniform', {'seed': None}),
            'bias_initializer': init('Zeros'), 'kernel_regularizer': None, 'bias_regularizer': None, 'kernel_constraint': None,
            'bias_constraint': None, 'quantization_config': None}


def pool_cfg(pool_size, strides, padding):
    return {'pool_size': list(pool_size), 'padding': padding, 'strides': list(strides), 'data_format': 'channels_last'}


def sequential(name, layers, input_shape):
    return {'module': 'keras', 'class_name': 'Sequential',
            'config': {'name': name, 'trainable': True, 'dtype': policy(), 'layers': layers, 'build_input_shape': [None, *input_shape]},
            'registered_name': None, 'build_config': {'input_shape': [None, *input_shape]}}


def functional(name, layers, inputs, outputs):
    return {'module': 'keras.src.models.functional', 'class_name': 'Functional',
            'config': {'name': name, 'trainable': True, 'layers': layers, 'input_layers': inputs, 'output_layers': outputs},
            'registered_name': 'Functional', 'build_config': {'input_shape': None}}


def to_snake_case(name):
    """keras.src.utils.naming.to_snake_case: how saving_lib names a layer's group in model.weights.h5."""
    name = re.sub(r'\W+', '', name)
    name = re.sub('(.)([A-Z][a-z]+)', r'\1_\2', name)
    return re.sub('([a-z])([A-Z])', r'\1_\2', name).lower()


def weight_paths(class_names, prefix='layers'):
    """The group of each layer of one container: snake_case class names, numbered `_1`, `_2`, … when repeated."""
    used, out = {}, []
    for cls in class_names:
        base = to_snake_case(cls)
        n = used.get(base)
        used[base] = 0 if n is None else n + 1
        out.append('%s/%s' % (prefix, base if n is None else '%s_%d' % (base, n + 1)))
    return out


# ---------------------------------------------------------------- writers

def zip_entry(name):
    info = zipfile.ZipInfo(name, date_time=SAVED_AT)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_STORED
    return info


def keras_archive(path, config, weights, version, names=True, extra=None):
    """A Keras 3 `.keras` zip. weights: [(group path, layer name, [arrays])] in the order Keras visits them."""
    buf = io.BytesIO()
    with h5py.File(buf, 'w') as f:
        top = f.create_group('vars')
        if names:
            top.attrs['name'] = config['config']['name']
        for group, lname, arrays in weights:
            g = f.create_group(group).create_group('vars') if group else f['vars']
            if names:
                g.attrs['name'] = lname
            for i, a in enumerate(arrays):
                g[str(i)] = a
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr(zip_entry('metadata.json'), json.dumps({'keras_version': version, 'date_saved': DATE_SAVED}))
        zf.writestr(zip_entry('config.json'), json.dumps(config))
        zf.writestr(zip_entry('model.weights.h5'), buf.getvalue())
        for name, data in (extra or []):
            zf.writestr(zip_entry(name), data)


def save_names(group, name, data):
    group.attrs[name] = np.array([n.encode('utf8') for n in data]) if data else np.array([], dtype='S1')


def legacy_h5(path, model_config, layers, version, weight_names_fn):
    """A Keras 2 (or Keras 3 legacy) `.h5`. layers: [(top-level layer name, [(weight name, array)])] in model.layers order."""
    with h5py.File(path, 'w') as f:
        f.attrs['keras_version'] = version
        f.attrs['backend'] = 'tensorflow'
        f.attrs['model_config'] = json.dumps(model_config).encode('utf8')
        g = f.create_group('model_weights')
        save_names(g, 'layer_names', [n for n, _ in layers])
        g.attrs['backend'] = b'tensorflow'
        g.attrs['keras_version'] = version.encode('utf8')
        for lname, weights in sorted(layers, key=lambda x: x[0]):
            lg = g.create_group(lname)
            save_names(lg, 'weight_names', [weight_names_fn(n) for n, _ in weights])
            for n, a in weights:
                lg.create_dataset(weight_names_fn(n), a.shape, dtype=a.dtype)[...] = a
        if version.startswith('3'):
            save_names(g.create_group('top_level_model_weights'), 'weight_names', [])


def keras2_name(n):
    return n + ':0'
