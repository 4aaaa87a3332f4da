"""Render GLB models side by side on a light floor with Blender (Cycles, CPU), for the docs.

    blender -b -P scripts/render_models.py -- OUT.png A.glb [B.glb ...]

Environment: ``SIDE`` (pixels per model, default 360), ``SAMPLES`` (default 24), ``ELEVATION``
(camera degrees above the horizon, default 22). Vertex colours (``COLOR_0``) colour the models.
"""

import math
import os
import sys

import bpy
import numpy

from mathutils import Vector

numpy.bool = bool  # Debian's Blender 3.4 glTF importer still uses this removed alias

argv = sys.argv[sys.argv.index("--") + 1 :]
out, paths = argv[0], argv[1:]
side = int(os.environ.get("SIDE", "360"))
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = int(os.environ.get("SAMPLES", "24"))
scene.cycles.use_denoising = False
scene.render.resolution_x, scene.render.resolution_y = side * len(paths), int(side * 1.3)
scene.view_settings.view_transform = "Standard"
world = bpy.data.worlds.new("world")
scene.world = world
world.use_nodes = True
world.node_tree.nodes["Background"].inputs[0].default_value = (0.93, 0.94, 0.96, 1)
world.node_tree.nodes["Background"].inputs[1].default_value = 0.25


def bounds(obj):
    corners = [obj.matrix_world @ Vector(c) for c in obj.bound_box]
    return Vector([min(c[i] for c in corners) for i in range(3)]), Vector([max(c[i] for c in corners) for i in range(3)])


models = []
for path in paths:
    before = set(bpy.data.objects)
    bpy.ops.import_scene.gltf(filepath=path)
    for obj in (o for o in bpy.data.objects if o not in before and o.type == "MESH"):
        material = bpy.data.materials.new("vertex colours")
        material.use_nodes = True
        nodes = material.node_tree.nodes
        shader = nodes["Principled BSDF"]
        shader.inputs["Roughness"].default_value = 0.45
        if obj.data.color_attributes:
            colour = nodes.new("ShaderNodeVertexColor")
            colour.layer_name = obj.data.color_attributes[0].name
            material.node_tree.links.new(colour.outputs["Color"], shader.inputs["Base Color"])
        obj.data.materials.clear()
        obj.data.materials.append(material)
        models.append(obj)

gap, cursor, height = 0.015, 0.0, 0.0
for obj in models:  # in a row along x, each standing on z = 0 (GLB metres; the importer makes Z up)
    low, high = bounds(obj)
    obj.location += Vector((cursor - low.x, -(low.y + high.y) / 2, -low.z))
    cursor += high.x - low.x + gap
    height = max(height, high.z - low.z)
total = cursor - gap

bpy.ops.mesh.primitive_plane_add(size=4, location=(total / 2, 0, 0))
floor = bpy.data.materials.new("floor")
floor.use_nodes = True
floor.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (0.8, 0.8, 0.82, 1)
bpy.context.object.data.materials.append(floor)

camera_data = bpy.data.cameras.new("camera")
camera_data.lens = 60
camera = bpy.data.objects.new("camera", camera_data)
scene.collection.objects.link(camera)
scene.camera = camera
width_px, height_px = scene.render.resolution_x, scene.render.resolution_y
half_w = math.atan(18 / camera_data.lens) if width_px >= height_px else math.atan(18 / camera_data.lens * width_px / height_px)
half_h = math.atan(math.tan(half_w) * height_px / width_px)
distance = max(total * 0.62 / math.tan(half_w), height * 0.66 / math.tan(half_h))
elevation = math.radians(float(os.environ.get("ELEVATION", "22")))
centre = Vector((total / 2, 0, height * 0.45))
camera.location = centre + Vector((0, -math.cos(elevation), math.sin(elevation))) * distance
camera.rotation_euler = (centre - camera.location).to_track_quat("-Z", "Y").to_euler()
for place, energy in (((total * 0.2 - 0.25, -0.35, 0.45), 7), ((total + 0.25, -0.15, 0.25), 3)):
    light_data = bpy.data.lights.new("light", "AREA")
    light_data.energy, light_data.size = energy, 0.3
    light = bpy.data.objects.new("light", light_data)
    light.location = place
    scene.collection.objects.link(light)
    light.rotation_euler = (centre - light.location).to_track_quat("-Z", "Y").to_euler()
scene.render.filepath = out
bpy.ops.render.render(write_still=True)
