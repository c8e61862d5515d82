"""forklab.explorer: The flag explorer: the sharing picture, its widgets and their accessible parts, the presets.
It may import forklab.engine, forklab.sandbox, forklab.figure and forklab.host; never forklab.meters or
forklab.course.
"""
